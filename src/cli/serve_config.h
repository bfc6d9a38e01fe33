// ServeConfig: the settings of `vigil serve`, from defaults, a TOML file, VIGIL_* environment
// variables and flags — later sources override earlier ones. docs/configuration.md lists them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace vigil::cli {

struct ServeConfig {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:8080";
  // Where symbol uploads go, and the rest of the API too; empty: on `listen`. When set, `listen`
  // takes request bodies up to max_body_bytes only (docs/configuration.md says why).
  std::string api_listen;
  std::string admin_token;  // empty: read or generate <data>/admin-token
  int64_t threads = 0;      // HTTP loops; 0 = one per core
  int64_t max_body_bytes = 1 << 20;
  int64_t max_decompressed_bytes = 16 << 20;
  int64_t max_events_per_batch = 10000;
  int64_t segment_bytes = 64ll << 20;
  int64_t max_backlog_bytes = 64ll << 20;
  int64_t retention_hours = 7 * 24;
  int64_t dedup_window_hours = 25;
  int64_t min_free_disk_mb = 1024;
  int64_t symbol_convert_timeout_s = 600;    // per uploaded object file, then the child is killed
  int64_t symbol_convert_memory_mb = 16384;  // address-space cap of the converter child
  int64_t archive_retention_days = 31;       // 0 keeps archived events forever
  int64_t archive_flush_ms = 5000;           // how long events wait in memory before a part
  int64_t batch_interval_minutes = 60;       // scheduled batch runs; 0 turns the scheduler off
  int64_t pin_http_loops = 1;  // 1: pin each HTTP loop to a CPU when there is one per CPU; 0 never
  int64_t background_nice = 19;      // added to the nice value of the stages behind the log, 0..19
  int64_t burst_yield_seconds = 30;  // per ingest burst, the stages yield at most this long; 0 off
  std::map<std::string, int64_t> archive_app_retention_days;  // per app id: overrides the above
};

// Applies a TOML file's settings (keys as in docs/configuration.md). InvalidArgument naming the
// key for unknown keys or wrong types.
Status ApplyTomlFile(const std::string& path, ServeConfig* config);
// Applies VIGIL_DATA, VIGIL_LISTEN, VIGIL_ADMIN_TOKEN, VIGIL_THREADS, ... from the environment.
Status ApplyEnvironment(ServeConfig* config);
// InvalidArgument naming the first setting out of its range (the range and meaning included).
Status ValidateServeConfig(const ServeConfig& config);
// Splits "HOST:PORT" (HOST an IPv4 address or localhost) or "[IPv6]:PORT" into the address,
// without brackets, and the port. InvalidArgument saying what is wrong otherwise.
Status ParseListen(const std::string& listen, std::string* host, uint16_t* port);
// "http://HOST:PORT", with an IPv6 address in brackets.
std::string HttpUrlOf(const std::string& host, uint16_t port);

}  // namespace vigil::cli
