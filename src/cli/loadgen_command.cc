// `vigil loadgen`: synthetic mobile devices posting event batches to a Vigil ingest endpoint.
//
// Used to load-test a server (`vigil loadgen --target http://127.0.0.1:8080 --key K`) and, with
// --emit-batch, to produce one fixed request body for the ingest benchmark. The flags map onto
// loadgen::LoadgenOptions; the work happens in src/loadgen/.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>

#include "cli/commands.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/secret.h"
#include "loadgen/loadgen.h"

namespace vigil::cli {

namespace {

constexpr const char* kLoadgenDescription =
    "Simulates a fleet of mobile devices whose SDKs post event batches (sessions, crashes,\n"
    "handled exceptions, network calls, user flows, custom events) to an ingest endpoint,\n"
    "as POST <target>/v1/events with X-Vigil-Key. Prints progress on stderr about once a\n"
    "second and a summary on stdout (--json for one JSON object). A few batches are sent\n"
    "twice with the same batch_id, as SDKs do when an answer is lost (--retry-rate). A\n"
    "batch answered 429 or 503 waits for the answer's Retry-After (at most 60 s) while other\n"
    "devices send, then goes again with its batch_id, until it has had 10 such answers.\n"
    "Stops after --duration seconds or --max-batches batches (with --max-batches alone there\n"
    "is no time limit; batches waiting for a Retry-After still go), or on Ctrl-C. Exit status\n"
    "0 when every request got an answer, none was a 5xx but 503s sent again, and no batch was\n"
    "left unsent; 1 otherwise, 2 for bad flags.\n"
    "\n"
    "With --emit-batch FILE, writes one generated batch body (encoded per --encoding) to FILE\n"
    "and exits, without contacting a server.";

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

int ToInt(int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, INT_MIN, INT_MAX)); }

int UsageError(const std::string& message) {
  std::fprintf(stderr, "vigil loadgen: %s\n", message.c_str());
  return 2;
}

int EmitBatch(const loadgen::LoadgenOptions& options, const std::string& path) {
  Result<loadgen::EncodedBatch> batch = loadgen::MakeEncodedBatch(options);
  if (!batch.ok()) {
    if (batch.status().code() == StatusCode::kInvalidArgument) {
      return UsageError(batch.status().message());
    }
    std::fprintf(stderr, "vigil loadgen: %s\n", batch.status().ToString().c_str());
    return 1;
  }
  Status written = WriteFileAtomically(path, batch->body);
  if (!written.ok()) {
    std::fprintf(stderr, "vigil loadgen: %s\n", written.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s: %zu bytes (%s; %zu bytes of JSON), %d events\n", path.c_str(),
               batch->body.size(), std::string(loadgen::BodyEncodingName(options.encoding)).c_str(),
               batch->json_bytes, batch->event_count);
  return 0;
}

}  // namespace

int RunLoadgenCommand(const std::vector<std::string>& args) {
  loadgen::LoadgenOptions options;
  std::string encoding = "gzip";
  std::string emit_path;
  int64_t devices = options.devices;
  int64_t seed = static_cast<int64_t>(options.seed);
  int64_t concurrency = options.concurrency;
  int64_t max_batches = options.max_batches;
  int64_t events_per_batch = options.events_per_batch;
  int64_t timeout_ms = options.timeout_ms;
  bool json = false;

  FlagSet flags("vigil loadgen --target URL --key KEY [flags]", kLoadgenDescription);
  flags.String("target", &options.target_url,
               "http://HOST:PORT[/path] to post to; /v1/events when no path");
  flags.String("key", &options.key, "ingest key, sent as X-Vigil-Key");
  flags.Int("devices", &devices, "number of simulated devices");
  flags.Double("rate", &options.rate, "batches/s over all connections; 0 = unpaced");
  flags.Double("duration", &options.duration_s, "seconds to run; 0 = no time limit");
  flags.Int("seed", &seed, "random seed; the same seed gives the same fleet");
  flags.Int("concurrency", &concurrency, "connections, one worker thread each");
  flags.String("encoding", &encoding, "request body encoding: gzip, zstd or identity");
  flags.Int("max-batches", &max_batches, "stop after this many batches; 0 = unlimited");
  flags.Int("events-per-batch", &events_per_batch, "events in each batch");
  flags.Double("retry-rate", &options.retry_rate, "chance a batch is sent again with its batch_id");
  flags.Int("timeout-ms", &timeout_ms, "timeout of each connect, send and receive");
  flags.String("run-id", &options.run_id,
               "in every batch and event id, so runs never collide (default: random)");
  flags.String("emit-batch", &emit_path, "write one encoded batch body to this file and exit");
  flags.Bool("json", &json, "print the summary as one JSON object");

  Status parsed = flags.Parse(args);
  if (!parsed.ok()) return UsageError(parsed.message());
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (!loadgen::ParseBodyEncoding(encoding, &options.encoding)) {
    return UsageError("--encoding must be gzip, zstd or identity, not '" + encoding + "'");
  }
  options.devices = ToInt(devices);
  options.seed = static_cast<uint64_t>(seed);
  options.concurrency = ToInt(concurrency);
  options.max_batches = max_batches;
  options.events_per_batch = ToInt(events_per_batch);
  options.timeout_ms = ToInt(timeout_ms);
  if (max_batches > 0 && !flags.WasSet("duration")) options.duration_s = 0;
  if (!flags.WasSet("run-id")) options.run_id = RandomToken("", 4);

  if (!emit_path.empty()) return EmitBatch(options, emit_path);
  if (options.target_url.empty()) return UsageError("--target is required (see --help)");
  if (options.key.empty()) return UsageError("--key is required (see --help)");
  Status valid = loadgen::ValidateLoadgenOptions(options);
  if (!valid.ok()) return UsageError(valid.message());

  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  options.stop = &g_interrupted;

  Result<loadgen::LoadgenSummary> summary = loadgen::RunLoadgen(options);
  if (!summary.ok()) {
    if (summary.status().code() == StatusCode::kInvalidArgument) {
      return UsageError(summary.status().message());
    }
    std::fprintf(stderr, "vigil loadgen: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", loadgen::FormatSummaryJson(*summary).c_str());
  } else {
    std::fputs(loadgen::FormatSummaryText(*summary).c_str(), stdout);
  }
  return summary->ok() ? 0 : 1;
}

}  // namespace vigil::cli
