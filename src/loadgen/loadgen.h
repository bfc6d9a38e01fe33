// The `vigil loadgen` run: synthetic devices posting event batches to an ingest endpoint.
//
// Workers (one thread and one keep-alive connection each) own disjoint slices of the device fleet,
// so event ids stay unique without locking. A shared pacer spaces requests so the total rate is
// `rate` per second (or unpaced at 0). With probability `retry_rate` a batch is sent a second time
// with the same batch_id and body, as an SDK does when an acknowledgement is lost; the server
// should answer `"duplicate": true`. Latencies go into a log-linear histogram (about 3% error),
// so memory stays fixed however long the run.
//
// Counting: `batches` and `events` count distinct batches generated; `requests` also counts the
// re-sends. `accepted` and `rejected` add up the 2xx answers not marked "duplicate" (those count
// in `duplicates`), so with a healthy server `accepted` equals `events`, and more means the server
// kept a re-sent batch twice. A 429 or 503 answer is what an SDK retries: the batch waits in its
// worker's queue for the answer's Retry-After (1 s without one, at most 60 s) while the worker
// sends other devices' batches, then goes again with the same batch_id (counted in `backoffs`
// by status, and in `requests`); after kMaxBackoffs of them, or when the run ends first, it
// counts in `unsent`. Any other non-2xx answer counts under its status in `errors`, and a
// failure to get any answer under "transport".
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vigil::loadgen {

enum class BodyEncoding { kIdentity, kGzip, kZstd };

// False if `name` is not "identity", "gzip" or "zstd".
bool ParseBodyEncoding(std::string_view name, BodyEncoding* encoding);
std::string_view BodyEncodingName(BodyEncoding encoding);

// Compresses request bodies as their Content-Encoding says. Not thread-safe: one per thread.
class BodyEncoder {
 public:
  explicit BodyEncoder(BodyEncoding encoding);
  ~BodyEncoder();
  BodyEncoder(const BodyEncoder&) = delete;
  BodyEncoder& operator=(const BodyEncoder&) = delete;

  // Internal only if the compression library fails (out of memory).
  Result<std::string> Encode(std::string_view body);

 private:
  struct Compressors;
  BodyEncoding encoding_;
  std::unique_ptr<Compressors> compressors_;
};

// 429/503 answers after which a batch is given up (counted in LoadgenSummary::unsent).
inline constexpr int kMaxBackoffs = 10;

struct LoadgenOptions {
  std::string target_url;  // http://HOST:PORT[/path]; "/v1/events" when it has no path
  std::string key;         // sent as X-Vigil-Key
  int devices = 1000;
  double rate = 0;         // requests (batches and re-sends) per second; 0 = unpaced
  double duration_s = 10;  // 0 = no time limit
  uint64_t seed = 1;
  int concurrency = 8;  // worker threads, one connection each; capped at `devices`
  BodyEncoding encoding = BodyEncoding::kGzip;
  int64_t max_batches = 0;  // 0 = unlimited; counts distinct batches, not re-sends
  int events_per_batch = 20;
  double retry_rate = 0.02;  // probability that a batch is sent again
  std::string run_id;        // in every batch and event id; at most 16 of [A-Za-z0-9_]
  int timeout_ms = 10000;    // per connect, send and receive
  bool progress = true;      // a progress line on stderr about once a second
  // When non-null and set (e.g. by a SIGINT handler), the run stops early; must outlive the run.
  const std::atomic<bool>* stop = nullptr;
};

// InvalidArgument naming the option when one is out of range. Does not look at target_url and
// key, which only a run needs (RunLoadgen checks them).
Status ValidateLoadgenOptions(const LoadgenOptions& options);

struct LoadgenSummary {
  int64_t batches = 0;
  int64_t events = 0;
  int64_t requests = 0;
  int64_t retries = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  int64_t duplicates = 0;
  std::map<std::string, int64_t> errors;    // "400" -> count, "transport" -> count
  std::map<std::string, int64_t> backoffs;  // "429" / "503" -> answers whose batch went again
  int64_t unsent = 0;  // batches still refused with 429/503 when the run ended, or given up
  double elapsed_s = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;

  double requests_per_s() const { return elapsed_s > 0 ? requests / elapsed_s : 0; }
  double events_per_s() const { return elapsed_s > 0 ? events / elapsed_s : 0; }
  // No transport errors, no 5xx answers but 503s whose batch went again, nothing unsent.
  bool ok() const;
};

// Runs until `duration_s`, `max_batches` or `stop`, whichever comes first. Fails before sending
// anything with InvalidArgument for bad options and IoError when the target cannot be reached;
// failures during the run are counted in the summary instead.
Result<LoadgenSummary> RunLoadgen(const LoadgenOptions& options);

// Human-readable, several lines ending in '\n'.
std::string FormatSummaryText(const LoadgenSummary& summary);
// One JSON object (no newline) with keys batches, events, requests, retries, accepted, rejected,
// duplicates, errors, elapsed_s, rps, events_per_s, p50_ms, p90_ms, p99_ms, max_ms.
std::string FormatSummaryJson(const LoadgenSummary& summary);

struct EncodedBatch {
  std::string body;  // encoded per options.encoding
  size_t json_bytes = 0;
  int event_count = 0;
};

// The first batch that a run with these options would send (target and key are not needed).
Result<EncodedBatch> MakeEncodedBatch(const LoadgenOptions& options);

}  // namespace vigil::loadgen
