// The loadgen run loop: workers, pacing, answer accounting, progress and the summary.
#include "loadgen/loadgen.h"

#include <libdeflate.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/json_writer.h"
#include "loadgen/device_model.h"
#include "loadgen/http_client.h"

namespace vigil::loadgen {

namespace {

constexpr std::string_view kDefaultPath = "/v1/events";
constexpr int kGzipLevel = 6;  // what mobile SDKs typically use
constexpr int kZstdLevel = 3;
// After a transport error a worker pauses, so a dead server is not hammered in a tight loop.
constexpr auto kTransportErrorPause = std::chrono::milliseconds(50);
// The longest Retry-After a refused batch waits (an SDK caps its backoff too).
constexpr int64_t kMaxRetryAfterS = 60;
// A pacer that fell behind may catch up by at most this much in a burst.
constexpr int64_t kMaxPacerBacklogNs = 50'000'000;

// Decorrelates the per-worker seeds derived from one --seed.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t WorkerSeed(uint64_t seed, int worker) { return SplitMix64(seed ^ SplitMix64(worker + 1)); }

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

// Latencies in microseconds, log-linear: exact below 32 us, then 32 buckets per power of two.
class LatencyHistogram {
 public:
  void Record(int64_t us) {
    uint64_t v = static_cast<uint64_t>(std::max<int64_t>(us, 0));
    ++counts_[std::min(Index(v), kBuckets - 1)];
    ++count_;
    max_us_ = std::max(max_us_, v);
  }
  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_us_ = std::max(max_us_, other.max_us_);
  }
  // The `q` quantile (0..1) in microseconds: the middle of its bucket, never above the maximum.
  double Quantile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * count_ + 0.999999));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        double mid =
            (static_cast<double>(LowerBound(i)) + static_cast<double>(LowerBound(i + 1))) / 2;
        return std::min(mid, static_cast<double>(max_us_));
      }
    }
    return static_cast<double>(max_us_);
  }
  uint64_t max_us() const { return max_us_; }

 private:
  static constexpr int kSubBits = 5;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

  static size_t Index(uint64_t v) {
    if (v < (1u << kSubBits)) return v;
    int exp = std::bit_width(v) - 1;  // >= kSubBits
    uint64_t sub = (v >> (exp - kSubBits)) & ((1u << kSubBits) - 1);
    return (static_cast<size_t>(exp - kSubBits + 1) << kSubBits) + sub;
  }
  static uint64_t LowerBound(size_t index) {
    if (index < (1u << kSubBits)) return index;
    int exp = static_cast<int>(index >> kSubBits) + kSubBits - 1;
    uint64_t sub = index & ((1u << kSubBits) - 1);
    return ((1ull << kSubBits) + sub) << (exp - kSubBits);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_us_ = 0;
};

// Spaces requests from all workers `1 / rate` seconds apart. Safe from any thread.
class Pacer {
 public:
  explicit Pacer(double rate, int64_t start_ns)
      : interval_ns_(rate > 0 ? static_cast<int64_t>(1e9 / rate) : 0), next_ns_(start_ns) {}

  // The monotonic time at which the caller may send its next request.
  int64_t Claim(int64_t now_ns) {
    if (interval_ns_ == 0) return now_ns;
    std::lock_guard<std::mutex> lock(mu_);
    next_ns_ = std::max(next_ns_, now_ns - kMaxPacerBacklogNs);
    int64_t slot = next_ns_;
    next_ns_ += interval_ns_;
    return slot;
  }

 private:
  const int64_t interval_ns_;
  std::mutex mu_;
  int64_t next_ns_;  // guarded by mu_
};

// Counters shared by the workers and read by the progress line.
struct SharedStats {
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> retries{0};
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> rejected{0};
  std::atomic<int64_t> duplicates{0};
  std::atomic<int64_t> error_count{0};
  std::atomic<int64_t> unsent{0};
  std::atomic<bool> reported_transport_error{false};

  std::mutex mu;
  std::map<std::string, int64_t> errors;    // guarded by mu
  std::map<std::string, int64_t> backoffs;  // guarded by mu
  Status fatal;                             // guarded by mu; first failure that stops the run

  void AddError(const std::string& key) {
    error_count.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu);
    ++errors[key];
  }
  void AddBackoff(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    ++backoffs[key];
  }
};

// Whole seconds of a Retry-After header (an SDK waits 1 s without one), at most
// kMaxRetryAfterS.
int64_t RetryAfterSeconds(std::string_view header) {
  int64_t s = 0;
  for (char c : header) {
    if (c < '0' || c > '9' || s > kMaxRetryAfterS) break;
    s = s * 10 + (c - '0');
  }
  return std::clamp<int64_t>(s, 1, kMaxRetryAfterS);
}

// What every worker shares. Lives on RunLoadgen's stack until all workers have joined.
struct RunContext {
  const LoadgenOptions* options;
  HttpUrl url;
  std::string path;
  int64_t start_ns;
  int64_t deadline_ns;  // INT64_MAX without a time limit
  Pacer* pacer;
  SharedStats* stats;
  std::atomic<int64_t> claimed{0};  // batches started, against max_batches
  std::atomic<bool> halt{false};    // set on a fatal error
  bool tty = false;                 // stderr is a terminal (progress line is \r-updated)

  bool Stopping(int64_t now_ns) const {
    return halt.load(std::memory_order_relaxed) || now_ns >= deadline_ns ||
           (options->stop != nullptr && options->stop->load(std::memory_order_relaxed));
  }
};

// Finds `"key": <number>` in a flat JSON answer; 0 when absent.
int64_t FindCount(std::string_view body, std::string_view key) {
  size_t pos = body.find(key);
  if (pos == std::string_view::npos) return 0;
  pos += key.size();
  while (pos < body.size() && (body[pos] == ' ' || body[pos] == ':')) ++pos;
  int64_t value = 0;
  while (pos < body.size() && body[pos] >= '0' && body[pos] <= '9') {
    value = value * 10 + (body[pos++] - '0');
  }
  return value;
}

bool FindTrue(std::string_view body, std::string_view key) {
  size_t pos = body.find(key);
  if (pos == std::string_view::npos) return false;
  pos += key.size();
  while (pos < body.size() && (body[pos] == ' ' || body[pos] == ':')) ++pos;
  return body.substr(pos, 4) == "true";
}

// Sleeps until `until_ns`, waking early to stop. False if the run stops first.
bool SleepUntil(const RunContext& ctx, int64_t until_ns) {
  Clock* clock = SystemClock();
  while (true) {
    int64_t now = clock->MonotonicNs();
    if (ctx.Stopping(now) || until_ns >= ctx.deadline_ns) return false;
    if (now >= until_ns) return true;
    std::this_thread::sleep_for(
        std::chrono::nanoseconds(std::min<int64_t>(until_ns - now, 100'000'000)));
  }
}

class Worker {
 public:
  Worker(RunContext* ctx, int index, std::vector<Device> devices)
      : ctx_(ctx),
        client_(ctx->url.host, ctx->url.port, ctx->options->timeout_ms),
        encoder_(ctx->options->encoding),
        generator_(std::move(devices), {WorkerSeed(ctx->options->seed, index), ctx->options->run_id,
                                        ctx->options->events_per_batch}),
        retry_rng_(SplitMix64(WorkerSeed(ctx->options->seed, index))) {
    headers_.emplace_back("X-Vigil-Key", ctx->options->key);
    headers_.emplace_back("Content-Type", "application/json");
    if (ctx->options->encoding != BodyEncoding::kIdentity) {
      headers_.emplace_back("Content-Encoding",
                            std::string(BodyEncodingName(ctx->options->encoding)));
    }
  }

  void Run() {
    const LoadgenOptions& options = *ctx_->options;
    Clock* clock = SystemClock();
    std::bernoulli_distribution retry(options.retry_rate);
    bool generating = true;
    while (!ctx_->Stopping(clock->MonotonicNs())) {
      // A batch whose Retry-After has passed goes before a new one.
      if (!waiting_.empty() && (waiting_.begin()->first <= clock->MonotonicNs() || !generating)) {
        auto next = waiting_.begin();
        if (!SleepUntil(*ctx_, next->first) ||
            !SleepUntil(*ctx_, ctx_->pacer->Claim(clock->MonotonicNs()))) {
          break;
        }
        Waiting w = std::move(next->second);
        waiting_.erase(next);
        Send(w.body, /*is_retry=*/true, w.backoffs);
        continue;
      }
      if (!generating) break;
      if (options.max_batches > 0 && ctx_->claimed.fetch_add(1) >= options.max_batches) {
        generating = false;  // what still waits for its Retry-After goes first
        continue;
      }
      if (!SleepUntil(*ctx_, ctx_->pacer->Claim(clock->MonotonicNs()))) break;
      GeneratedBatch batch = generator_.Next(clock->NowMs());
      Result<std::string> body = encoder_.Encode(batch.body);
      if (!body.ok()) {
        std::lock_guard<std::mutex> lock(ctx_->stats->mu);
        if (ctx_->stats->fatal.ok()) ctx_->stats->fatal = body.status();
        ctx_->halt = true;
        break;
      }
      ctx_->stats->batches.fetch_add(1, std::memory_order_relaxed);
      ctx_->stats->events.fetch_add(batch.event_count, std::memory_order_relaxed);
      Send(*body, /*is_retry=*/false, 0);
      // A lost acknowledgement: the SDK sends the same batch again.
      if (retry(retry_rng_) && SleepUntil(*ctx_, ctx_->pacer->Claim(clock->MonotonicNs()))) {
        Send(*body, /*is_retry=*/true, 0);
      }
    }
    ctx_->stats->unsent.fetch_add(static_cast<int64_t>(waiting_.size()));
  }

  const LatencyHistogram& latencies() const { return latencies_; }

 private:
  // `backoffs`: how many 429/503 answers the batch already had.
  void Send(const std::string& body, bool is_retry, int backoffs) {
    SharedStats& stats = *ctx_->stats;
    Clock* clock = SystemClock();
    int64_t start_ns = clock->MonotonicNs();
    Result<HttpResponse> response = client_.Post(ctx_->path, headers_, body);
    int64_t elapsed_ns = clock->MonotonicNs() - start_ns;
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    if (is_retry) stats.retries.fetch_add(1, std::memory_order_relaxed);
    if (!response.ok()) {
      stats.AddError("transport");
      if (!stats.reported_transport_error.exchange(true)) {
        std::fprintf(stderr, "%sloadgen: first transport error: %s\n", ctx_->tty ? "\r\x1b[K" : "",
                     response.status().ToString().c_str());
      }
      std::this_thread::sleep_for(kTransportErrorPause);
      return;
    }
    latencies_.Record(elapsed_ns / 1000);
    if (response->status == 429 || response->status == 503) {
      // Kept, as an SDK keeps it on disk, and sent again once Retry-After (plus up to a fifth
      // of it, so that refused devices do not all come back at once) has passed.
      stats.AddBackoff(std::to_string(response->status));
      if (backoffs + 1 >= kMaxBackoffs) {
        stats.unsent.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      const double wait_s =
          static_cast<double>(RetryAfterSeconds(response->Header("retry-after"))) *
          std::uniform_real_distribution<double>(1.0, 1.2)(retry_rng_);
      waiting_.emplace(clock->MonotonicNs() + static_cast<int64_t>(wait_s * 1e9),
                       Waiting{body, backoffs + 1});
      return;
    }
    if (response->status < 200 || response->status > 299) {
      stats.AddError(std::to_string(response->status));
      return;
    }
    if (FindTrue(response->body, "\"duplicate\"")) {
      stats.duplicates.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    stats.accepted.fetch_add(FindCount(response->body, "\"accepted\""), std::memory_order_relaxed);
    stats.rejected.fetch_add(FindCount(response->body, "\"rejected\""), std::memory_order_relaxed);
  }

  RunContext* ctx_;
  HttpClient client_;
  BodyEncoder encoder_;
  BatchGenerator generator_;
  std::mt19937_64 retry_rng_;
  HttpHeaders headers_;
  LatencyHistogram latencies_;
  // Batches answered 429 or 503, by when they may go again.
  struct Waiting {
    std::string body;
    int backoffs;
  };
  std::multimap<int64_t, Waiting> waiting_;
};

void PrintProgress(const SharedStats& stats, double elapsed_s, double rps, bool tty) {
  char line[256];
  std::snprintf(line, sizeof(line),
                "%7.1fs  sent %lld batches (%lld events)  accepted %lld events  %.0f req/s  "
                "errors %lld",
                elapsed_s, static_cast<long long>(stats.batches.load()),
                static_cast<long long>(stats.events.load()),
                static_cast<long long>(stats.accepted.load()), rps,
                static_cast<long long>(stats.error_count.load()));
  if (tty) {
    std::fprintf(stderr, "\r%s\x1b[K", line);
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

bool ValidRunId(std::string_view id) {
  if (id.size() > kMaxRunIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

// ---- Encoding -------------------------------------------------------------------------------

bool ParseBodyEncoding(std::string_view name, BodyEncoding* encoding) {
  if (name == "identity") {
    *encoding = BodyEncoding::kIdentity;
  } else if (name == "gzip") {
    *encoding = BodyEncoding::kGzip;
  } else if (name == "zstd") {
    *encoding = BodyEncoding::kZstd;
  } else {
    return false;
  }
  return true;
}

std::string_view BodyEncodingName(BodyEncoding encoding) {
  switch (encoding) {
    case BodyEncoding::kIdentity:
      return "identity";
    case BodyEncoding::kGzip:
      return "gzip";
    case BodyEncoding::kZstd:
      return "zstd";
  }
  return "identity";
}

struct BodyEncoder::Compressors {
  libdeflate_compressor* gzip = nullptr;
  ZSTD_CCtx* zstd = nullptr;
};

BodyEncoder::BodyEncoder(BodyEncoding encoding)
    : encoding_(encoding), compressors_(std::make_unique<Compressors>()) {}

BodyEncoder::~BodyEncoder() {
  if (compressors_->gzip != nullptr) libdeflate_free_compressor(compressors_->gzip);
  if (compressors_->zstd != nullptr) ZSTD_freeCCtx(compressors_->zstd);
}

Result<std::string> BodyEncoder::Encode(std::string_view body) {
  switch (encoding_) {
    case BodyEncoding::kIdentity:
      return std::string(body);
    case BodyEncoding::kGzip: {
      if (compressors_->gzip == nullptr) {
        compressors_->gzip = libdeflate_alloc_compressor(kGzipLevel);
        if (compressors_->gzip == nullptr) return Status::Internal("cannot allocate gzip state");
      }
      std::string out(libdeflate_gzip_compress_bound(compressors_->gzip, body.size()), '\0');
      size_t n = libdeflate_gzip_compress(compressors_->gzip, body.data(), body.size(), out.data(),
                                          out.size());
      if (n == 0) return Status::Internal("gzip compression failed");
      out.resize(n);
      return out;
    }
    case BodyEncoding::kZstd: {
      if (compressors_->zstd == nullptr) {
        compressors_->zstd = ZSTD_createCCtx();
        if (compressors_->zstd == nullptr) return Status::Internal("cannot allocate zstd state");
      }
      std::string out(ZSTD_compressBound(body.size()), '\0');
      size_t n = ZSTD_compressCCtx(compressors_->zstd, out.data(), out.size(), body.data(),
                                   body.size(), kZstdLevel);
      if (ZSTD_isError(n)) {
        return Status::Internal(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
      }
      out.resize(n);
      return out;
    }
  }
  return Status::Internal("unknown body encoding");
}

// ---- Options --------------------------------------------------------------------------------

Status ValidateLoadgenOptions(const LoadgenOptions& o) {
  if (o.devices < 1 || o.devices > 10'000'000) {
    return Status::InvalidArgument("--devices must be between 1 and 10000000");
  }
  if (!(o.rate >= 0)) return Status::InvalidArgument("--rate must be 0 (unpaced) or more");
  if (!(o.duration_s >= 0)) {
    return Status::InvalidArgument("--duration must be 0 (no time limit) or more seconds");
  }
  if (o.concurrency < 1 || o.concurrency > 1024) {
    return Status::InvalidArgument("--concurrency must be between 1 and 1024");
  }
  if (o.max_batches < 0) return Status::InvalidArgument("--max-batches must be 0 or more");
  if (o.events_per_batch < 1 || o.events_per_batch > 100'000) {
    return Status::InvalidArgument("--events-per-batch must be between 1 and 100000");
  }
  if (!(o.retry_rate >= 0 && o.retry_rate <= 1)) {
    return Status::InvalidArgument("--retry-rate must be between 0 and 1");
  }
  if (o.timeout_ms < 1 || o.timeout_ms > 3'600'000) {
    return Status::InvalidArgument("--timeout-ms must be between 1 and 3600000");
  }
  if (!ValidRunId(o.run_id)) {
    return Status::InvalidArgument("--run-id must be at most 16 letters, digits or '_'");
  }
  return Status::Ok();
}

bool LoadgenSummary::ok() const {
  for (const auto& [key, count] : errors) {
    if (count > 0 && (key == "transport" || (key.size() == 3 && key[0] == '5'))) return false;
  }
  return unsent == 0;
}

// ---- The run --------------------------------------------------------------------------------

Result<LoadgenSummary> RunLoadgen(const LoadgenOptions& options) {
  VIGIL_RETURN_IF_ERROR(ValidateLoadgenOptions(options));
  if (options.key.empty()) return Status::InvalidArgument("--key (an ingest key) is required");
  Result<HttpUrl> url = ParseHttpUrl(options.target_url);
  if (!url.ok()) return url.status();

  // Fail fast, with one clear message, when nothing is listening.
  {
    HttpClient probe(url->host, url->port, options.timeout_ms);
    Status connected = probe.Connect();
    if (!connected.ok()) {
      return Status::IoError(connected.message() + " (is the server running at " +
                             options.target_url + "?)");
    }
  }

  Clock* clock = SystemClock();
  SharedStats stats;
  RunContext ctx;
  ctx.options = &options;
  ctx.url = *url;
  ctx.path = (url->path.empty() || url->path == "/") ? std::string(kDefaultPath) : url->path;
  ctx.start_ns = clock->MonotonicNs();
  ctx.deadline_ns = options.duration_s > 0
                        ? ctx.start_ns + static_cast<int64_t>(options.duration_s * 1e9)
                        : INT64_MAX;
  Pacer pacer(options.rate, ctx.start_ns);
  ctx.pacer = &pacer;
  ctx.stats = &stats;
  ctx.tty = ::isatty(STDERR_FILENO) == 1;

  // Device i belongs to worker i % workers, so each device's ids come from one thread.
  const int workers = std::min(options.concurrency, options.devices);
  std::vector<std::vector<Device>> slices(workers);
  std::vector<Device> fleet = MakeDevices(options.seed, options.devices);
  for (size_t i = 0; i < fleet.size(); ++i) slices[i % workers].push_back(std::move(fleet[i]));

  std::vector<std::unique_ptr<Worker>> pool;
  for (int i = 0; i < workers; ++i) {
    pool.push_back(std::make_unique<Worker>(&ctx, i, std::move(slices[i])));
  }
  std::mutex done_mu;
  std::condition_variable done_cv;
  int running = workers;
  std::vector<std::thread> threads;
  for (auto& worker : pool) {
    threads.emplace_back([&, w = worker.get()] {
      w->Run();
      std::lock_guard<std::mutex> lock(done_mu);
      --running;
      done_cv.notify_all();
    });
  }

  // Progress about once a second until every worker is done.
  const bool tty = ctx.tty;
  int64_t last_ns = ctx.start_ns;
  int64_t last_requests = 0;
  bool printed = false;
  {
    std::unique_lock<std::mutex> lock(done_mu);
    while (!done_cv.wait_for(lock, std::chrono::seconds(1), [&] { return running == 0; })) {
      if (!options.progress) continue;
      int64_t now = clock->MonotonicNs();
      int64_t requests = stats.requests.load();
      double rps = (requests - last_requests) / ((now - last_ns) / 1e9);
      PrintProgress(stats, (now - ctx.start_ns) / 1e9, rps, tty);
      printed = true;
      last_ns = now;
      last_requests = requests;
    }
  }
  for (std::thread& t : threads) t.join();
  if (printed && tty) std::fprintf(stderr, "\n");

  {
    std::lock_guard<std::mutex> lock(stats.mu);
    if (!stats.fatal.ok()) return stats.fatal;
  }
  LoadgenSummary summary;
  summary.elapsed_s = (clock->MonotonicNs() - ctx.start_ns) / 1e9;
  summary.batches = stats.batches.load();
  summary.events = stats.events.load();
  summary.requests = stats.requests.load();
  summary.retries = stats.retries.load();
  summary.accepted = stats.accepted.load();
  summary.rejected = stats.rejected.load();
  summary.duplicates = stats.duplicates.load();
  summary.errors = stats.errors;
  summary.backoffs = stats.backoffs;
  summary.unsent = stats.unsent.load();
  LatencyHistogram latencies;
  for (const auto& worker : pool) latencies.Merge(worker->latencies());
  summary.p50_ms = latencies.Quantile(0.50) / 1000;
  summary.p90_ms = latencies.Quantile(0.90) / 1000;
  summary.p99_ms = latencies.Quantile(0.99) / 1000;
  summary.max_ms = static_cast<double>(latencies.max_us()) / 1000;
  return summary;
}

// ---- Output ---------------------------------------------------------------------------------

std::string FormatSummaryText(const LoadgenSummary& s) {
  auto n = [](int64_t v) { return std::to_string(v); };
  std::string out;
  out += "batches      " + n(s.batches) + " (" + n(s.events) + " events), " + n(s.requests) +
         " requests of which " + n(s.retries) + " re-sends\n";
  out += "answers      " + n(s.accepted) + " events accepted, " + n(s.rejected) + " rejected, " +
         n(s.duplicates) + " duplicate batches\n";
  out += "errors       ";
  if (s.errors.empty()) {
    out += "none";
  } else {
    bool first = true;
    for (const auto& [key, count] : s.errors) {
      if (!first) out += ", ";
      first = false;
      out += (key == "transport" ? key : "HTTP " + key) + ": " + n(count);
    }
  }
  out += "\n";
  out += "backoffs     ";
  if (s.backoffs.empty()) out += "none";
  bool first_backoff = true;
  for (const auto& [key, count] : s.backoffs) {
    out += (first_backoff ? "HTTP " : ", HTTP ") + key + ": " + n(count);
    first_backoff = false;
  }
  if (!s.backoffs.empty()) out += " (sent again after Retry-After)";
  out += "; " + n(s.unsent) + " batches unsent\n";
  out += "throughput   " + Format("%.1f", s.requests_per_s()) + " requests/s, " +
         Format("%.1f", s.events_per_s()) + " events/s over " + Format("%.1f", s.elapsed_s) +
         " s\n";
  out += "latency      p50 " + Format("%.2f", s.p50_ms) + " ms, p90 " + Format("%.2f", s.p90_ms) +
         " ms, p99 " + Format("%.2f", s.p99_ms) + " ms, max " + Format("%.2f", s.max_ms) + " ms\n";
  return out;
}

std::string FormatSummaryJson(const LoadgenSummary& s) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("batches").Int(s.batches).Key("events").Int(s.events);
  w.Key("requests").Int(s.requests).Key("retries").Int(s.retries);
  w.Key("accepted").Int(s.accepted).Key("rejected").Int(s.rejected);
  w.Key("duplicates").Int(s.duplicates);
  w.Key("errors").BeginObject();
  for (const auto& [key, count] : s.errors) w.Key(key).Int(count);
  w.EndObject();
  w.Key("backoffs").BeginObject();
  for (const auto& [key, count] : s.backoffs) w.Key(key).Int(count);
  w.EndObject();
  w.Key("unsent").Int(s.unsent);
  w.Key("elapsed_s").Raw(Format("%.3f", s.elapsed_s));
  w.Key("rps").Raw(Format("%.1f", s.requests_per_s()));
  w.Key("events_per_s").Raw(Format("%.1f", s.events_per_s()));
  w.Key("p50_ms").Raw(Format("%.3f", s.p50_ms)).Key("p90_ms").Raw(Format("%.3f", s.p90_ms));
  w.Key("p99_ms").Raw(Format("%.3f", s.p99_ms)).Key("max_ms").Raw(Format("%.3f", s.max_ms));
  w.EndObject();
  return out;
}

Result<EncodedBatch> MakeEncodedBatch(const LoadgenOptions& options) {
  VIGIL_RETURN_IF_ERROR(ValidateLoadgenOptions(options));
  BatchGenerator generator(MakeDevices(options.seed, options.devices),
                           {WorkerSeed(options.seed, 0), options.run_id, options.events_per_batch});
  GeneratedBatch batch = generator.Next(SystemClock()->NowMs());
  BodyEncoder encoder(options.encoding);
  Result<std::string> body = encoder.Encode(batch.body);
  if (!body.ok()) return body.status();
  EncodedBatch encoded;
  encoded.body = std::move(body).value();
  encoded.json_bytes = batch.body.size();
  encoded.event_count = batch.event_count;
  return encoded;
}

}  // namespace vigil::loadgen
