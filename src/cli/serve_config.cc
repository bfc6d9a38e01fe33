// TOML and environment sources of ServeConfig.
#include "cli/serve_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <toml++/toml.h>

#include <charconv>
#include <cstdlib>

#include "ingest/http_server.h"

namespace vigil::cli {

namespace {
// Every integer setting, with the values it may take: anything else stops `vigil serve` with an
// error naming the setting, its range and what it means (ValidateServeConfig).
struct IntSetting {
  const char* toml_key;
  const char* env;
  int64_t ServeConfig::*field;
  int64_t min, max;
  const char* meaning;
};
constexpr int64_t kKiB = 1024, kMiB = kKiB << 10, kGiB = kMiB << 10;
constexpr IntSetting kIntSettings[] = {
    {"threads", "VIGIL_THREADS", &ServeConfig::threads, 0, 1024,
     "HTTP event loops; 0: one per core"},
    {"max_body_bytes", "VIGIL_MAX_BODY_BYTES", &ServeConfig::max_body_bytes, kKiB, kGiB,
     "the largest request body taken, as sent (compressed)"},
    {"max_decompressed_bytes", "VIGIL_MAX_DECOMPRESSED_BYTES", &ServeConfig::max_decompressed_bytes,
     kKiB, 4 * kGiB, "the largest events body taken once decompressed"},
    {"max_events_per_batch", "VIGIL_MAX_EVENTS_PER_BATCH", &ServeConfig::max_events_per_batch, 1,
     1000000, "events in one batch"},
    {"segment_bytes", "VIGIL_SEGMENT_BYTES", &ServeConfig::segment_bytes, 64 * kKiB, 64 * kGiB,
     "the size at which a log segment rolls"},
    {"max_backlog_bytes", "VIGIL_MAX_BACKLOG_BYTES", &ServeConfig::max_backlog_bytes, kMiB,
     64 * kGiB, "batches waiting for the log's writer before ingest answers 503"},
    {"retention_hours", "VIGIL_RETENTION_HOURS", &ServeConfig::retention_hours, 0, 87600,
     "how long log segments stay once their readers passed them"},
    {"dedup_window_hours", "VIGIL_DEDUP_WINDOW_HOURS", &ServeConfig::dedup_window_hours, 0, 8760,
     "how long a batch_id is remembered; retried batches need 24 or more, 0 turns it off"},
    {"min_free_disk_mb", "VIGIL_MIN_FREE_DISK_MB", &ServeConfig::min_free_disk_mb, 0, 1048576,
     "MiB of disk ingest leaves to the stages behind the log; 0: none"},
    {"symbol_convert_timeout_s", "VIGIL_SYMBOL_CONVERT_TIMEOUT_S",
     &ServeConfig::symbol_convert_timeout_s, 1, 86400, "seconds per uploaded object file"},
    {"symbol_convert_memory_mb", "VIGIL_SYMBOL_CONVERT_MEMORY_MB",
     &ServeConfig::symbol_convert_memory_mb, 64, 1048576,
     "address space of the symbol converter, in MiB"},
    {"archive_retention_days", "VIGIL_ARCHIVE_RETENTION_DAYS", &ServeConfig::archive_retention_days,
     0, 36500, "UTC days of archived events kept; 0 keeps them forever"},
    {"archive_flush_ms", "VIGIL_ARCHIVE_FLUSH_MS", &ServeConfig::archive_flush_ms, 10, 3600000,
     "how long events wait in memory before an archive part"},
    {"batch_interval_minutes", "VIGIL_BATCH_INTERVAL_MINUTES", &ServeConfig::batch_interval_minutes,
     0, 10080, "minutes between batch runs; 0: none"},
    {"pin_http_loops", "VIGIL_PIN_HTTP_LOOPS", &ServeConfig::pin_http_loops, 0, 1,
     "1 pins each HTTP loop to a CPU of its own when there is one loop per CPU"},
    {"background_nice", "VIGIL_BACKGROUND_NICE", &ServeConfig::background_nice, 0, 19,
     "0 runs the stages behind the log at the collector's priority"},
    {"burst_yield_seconds", "VIGIL_BURST_YIELD_SECONDS", &ServeConfig::burst_yield_seconds, 0, 3600,
     "0: the stages behind the log never yield to ingest bursts"},
};
struct StringSetting {
  const char* toml_key;
  const char* env;
  std::string ServeConfig::*field;
};
constexpr StringSetting kStringSettings[] = {
    {"data", "VIGIL_DATA", &ServeConfig::data_dir},
    {"listen", "VIGIL_LISTEN", &ServeConfig::listen},
    {"api_listen", "VIGIL_API_LISTEN", &ServeConfig::api_listen},
    {"admin_token", "VIGIL_ADMIN_TOKEN", &ServeConfig::admin_token},
};
}  // namespace

Status ApplyTomlFile(const std::string& path, ServeConfig* config) {
  // toml++ reports errors by exception in this build; none may leave this function.
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    return Status::InvalidArgument(path + ":" + std::to_string(err.source().begin.line) + ": " +
                                   std::string(err.description()));
  }
  for (auto&& [key, node] : table) {
    bool known = false;
    if (key.str() == "archive_app_retention_days") {
      // [archive_app_retention_days] with one `app_id = days` line per app.
      const toml::table* apps = node.as_table();
      if (apps == nullptr) {
        return Status::InvalidArgument(path +
                                       ": archive_app_retention_days must be a table of "
                                       "app id = days");
      }
      for (auto&& [app, days] : *apps) {
        if (!days.is_integer()) {
          return Status::InvalidArgument(path + ": archive_app_retention_days." +
                                         std::string(app.str()) + " must be an integer (days)");
        }
        config->archive_app_retention_days[std::string(app.str())] = *days.value<int64_t>();
      }
      continue;
    }
    for (const StringSetting& s : kStringSettings) {
      if (key.str() != s.toml_key) continue;
      known = true;
      if (!node.is_string()) {
        return Status::InvalidArgument(path + ": " + s.toml_key + " must be a string");
      }
      config->*s.field = *node.value<std::string>();
    }
    for (const IntSetting& s : kIntSettings) {
      if (key.str() != s.toml_key) continue;
      known = true;
      if (!node.is_integer()) {
        return Status::InvalidArgument(path + ": " + s.toml_key + " must be an integer");
      }
      config->*s.field = *node.value<int64_t>();
    }
    if (!known) {
      return Status::InvalidArgument(path + ": unknown setting '" + std::string(key.str()) +
                                     "' (see docs/configuration.md)");
    }
  }
  return Status::Ok();
}

Status ApplyEnvironment(ServeConfig* config) {
  for (const StringSetting& s : kStringSettings) {
    if (const char* v = std::getenv(s.env)) config->*s.field = v;
  }
  for (const IntSetting& s : kIntSettings) {
    const char* v = std::getenv(s.env);
    if (v == nullptr) continue;
    std::string_view text(v);
    int64_t parsed;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return Status::InvalidArgument(std::string(s.env) + " must be an integer, not '" + v + "'");
    }
    config->*s.field = parsed;
  }
  return Status::Ok();
}

Status ValidateServeConfig(const ServeConfig& config) {
  for (const IntSetting& s : kIntSettings) {
    const int64_t v = config.*s.field;
    if (v >= s.min && v <= s.max) continue;
    const std::string range = s.max == s.min + 1
                                  ? std::to_string(s.min) + " or " + std::to_string(s.max)
                                  : std::to_string(s.min) + "-" + std::to_string(s.max);
    return Status::InvalidArgument(std::string(s.toml_key) + " must be " + range + " (" +
                                   s.meaning + "), not " + std::to_string(v) +
                                   ": fix it in the config file or " + s.env);
  }
  if (!config.api_listen.empty()) {
    std::string host, api_host;
    uint16_t port = 0, api_port = 0;
    Status st = ParseListen(config.api_listen, &api_host, &api_port);
    if (!st.ok()) return Status::InvalidArgument("api_listen: " + st.message());
    // Both listeners set SO_REUSEPORT: one address for both would split its connections
    // between them at random, not fail; so would a wildcard address and any other on the port.
    auto wildcard = [](const std::string& h) { return h == "0.0.0.0" || h == "::"; };
    if (ParseListen(config.listen, &host, &port).ok() && port != 0 && port == api_port &&
        (host == api_host || wildcard(host) || wildcard(api_host))) {
      return Status::InvalidArgument("api_listen must differ from listen (" + config.listen +
                                     "): give the API a port of its own, or leave it unset");
    }
  }
  return Status::Ok();
}

Status ParseListen(const std::string& listen, std::string* host, uint16_t* port) {
  const std::string_view l = listen;
  std::string_view h, p;
  if (!l.empty() && l[0] == '[') {  // [IPv6]:PORT
    const size_t close = l.find(']');
    if (close == std::string_view::npos || close + 1 >= l.size() || l[close + 1] != ':') {
      return Status::InvalidArgument("an IPv6 listen address is [ADDRESS]:PORT, e.g. [::]:8080");
    }
    h = l.substr(1, close - 1);
    p = l.substr(close + 2);
    in6_addr addr;
    if (inet_pton(AF_INET6, std::string(h).c_str(), &addr) != 1) {
      return Status::InvalidArgument("'" + std::string(h) + "' in listen is not an IPv6 address");
    }
    if (IN6_IS_ADDR_LINKLOCAL(&addr)) {  // binding one needs an interface, which is not taken
      return Status::InvalidArgument("'" + std::string(h) +
                                     "' is a link-local address, which Vigil cannot listen on: "
                                     "use [::] or a global address");
    }
    *host = h;
  } else {
    const size_t colon = l.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Status::InvalidArgument(
          "listen address must be HOST:PORT, e.g. 127.0.0.1:8080 (or [::]:8080 for IPv6)");
    }
    h = l.substr(0, colon);
    p = l.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) {
      return Status::InvalidArgument("an IPv6 listen address goes in brackets: [" + std::string(h) +
                                     "]:PORT");
    }
    *host = h == "localhost" ? "127.0.0.1" : std::string(h);
    in_addr unused;
    if (inet_pton(AF_INET, host->c_str(), &unused) != 1) {
      return Status::InvalidArgument(
          "listen host must be an IP address of this machine (127.0.0.1, 0.0.0.0 for every "
          "interface, or [::] for every interface over IPv6 and IPv4), not '" +
          std::string(h) + "'");
    }
  }
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || v > 65535) {
    return Status::InvalidArgument("listen port must be a number 0-65535 (0 picks a free one)");
  }
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

std::string HttpUrlOf(const std::string& host, uint16_t port) {
  return "http://" + ingest::HostPortText(host, port);
}

}  // namespace vigil::cli
