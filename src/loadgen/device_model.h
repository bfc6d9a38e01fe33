// Synthetic mobile devices and the event batches their SDKs would send, for `vigil loadgen`.
//
// Load that looks like production matters: grouping, rollups and sketches behave differently on
// uniform data than on real skew. So the fleet has Zipf-like popularity of app versions, OS
// versions, models and locales; each device has 1-5 sessions a day; about 1% of sessions end in a
// crash drawn from a small catalog of crash signatures (some only in the newest release), handled
// exceptions are more common; network calls have log-normal latency and a few failures; users go
// through flows; ~5% of devices were offline for days and send events 1-7 days old; ~2% have a
// wrong clock (minutes to hours off, in `sent_at` and `ts` alike, for the server to correct).
//
// Batches carry what mobile SDKs send: the device's context (hardware, battery, network, ...),
// the SDK's name and version, a random-looking UUID per event and per session (as Sentry's,
// Firebase's and Amplitude's SDKs make them), and a W3C trace id on traced network calls. That
// entropy is what makes a 20-event batch ~2 KB gzipped, the size docs/benchmarks assume, where
// counters and repeated prefixes compressed to half that.
//
// Everything is drawn from std::mt19937_64 seeded by the caller, so a seed reproduces the same
// fleet and the same sequence of batches (timestamps are relative to the `now_ms` passed in). Ids
// also carry a run id (batch ids in clear, event and session UUIDs through a hash), so two runs
// against the same server never collide on batch or event ids.
// The batch body follows the ingest contract in docs/architecture.md ("Contract").
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace vigil::loadgen {

// One simulated phone: a fixed profile plus the state of its current app session.
struct Device {
  std::string id;     // "d" + 16 hex digits; stable for a seed
  std::string model;  // "Pixel 8", "iPhone15,2", ...
  std::string manufacturer;
  std::string screen;  // "1080x2400"
  int memory_mb = 0;
  int storage_gb = 0;
  bool ios = false;
  std::string os_version;  // "14", "17.4.1", ...
  std::string locale;      // "en_US", ...
  std::string timezone;    // "America/New_York", ...
  std::string carrier;
  int app_version = 0;  // index into the app version table; 0 is the newest release
  std::string user_id;
  int sessions_per_day = 1;    // 1-5
  int64_t offline_lag_ms = 0;  // > 0 for devices whose events are days old
  int64_t clock_skew_ms = 0;   // added to the device's clock readings (sent_at and ts)

  // Session state, advanced by BatchGenerator.
  uint64_t events_made = 0;    // counter behind the device's event ids
  uint64_t batches_made = 0;   // counter behind the device's batch ids
  uint64_t sessions_made = 0;  // counter behind the device's session ids
  int session_events_left = 0;
  bool session_crashes = false;
};

// A deterministic fleet of `count` devices for `seed`.
std::vector<Device> MakeDevices(uint64_t seed, int count);

// One batch: the uncompressed JSON body and what it holds.
struct GeneratedBatch {
  std::string batch_id;
  std::string body;
  int event_count = 0;
};

struct GeneratorOptions {
  uint64_t seed = 1;
  // Part of every batch and event id; at most kMaxRunIdBytes so ids stay within 64 bytes.
  std::string run_id;
  int events_per_batch = 20;
};

inline constexpr size_t kMaxRunIdBytes = 16;

// Makes batches for a set of devices it owns. Not thread-safe: give each thread its own generator
// over a disjoint set of devices (event ids are unique only per device).
class BatchGenerator {
 public:
  // `devices` must not be empty.
  BatchGenerator(std::vector<Device> devices, const GeneratorOptions& options);

  // The next batch of a device picked at random (weighted by its sessions per day). Events occur
  // before `now_ms` (days before, for offline devices); `sent_at` is `now_ms`, both as read on
  // the device's clock (so off by its skew).
  GeneratedBatch Next(int64_t now_ms);

 private:
  std::mt19937_64 rng_;
  std::vector<Device> devices_;
  std::discrete_distribution<size_t> pick_device_;
  GeneratorOptions options_;
};

}  // namespace vigil::loadgen
