// The ingest hot path without HTTP: gunzip + parse/validate/encode of real loadgen batches, timed
// per batch. Run by bench/ingest/run.sh before the wrk rounds, so that a change to the parser or
// the record encoding shows its cost in µs per batch, apart from the noise of sockets and fsyncs.
//
// usage: vigil_bench_parse DIR N [SECONDS]   (DIR holds batch-1.gz .. batch-N.gz)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "ingest/batch_parser.h"
#include "ingest/decompressor.h"

using vigil::ingest::BatchParser;
using vigil::ingest::ContentEncoding;
using vigil::ingest::Decompressor;
using vigil::ingest::ParsedBatch;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: vigil_bench_parse DIR N [SECONDS]\n");
    return 2;
  }
  std::string dir = argv[1];
  int n = std::atoi(argv[2]);
  double seconds = argc > 3 ? std::atof(argv[3]) : 2.0;
  std::vector<std::string> bodies;
  for (int k = 1; k <= n; ++k) {
    vigil::Result<std::string> b = vigil::ReadFile(dir + "/batch-" + std::to_string(k) + ".gz");
    if (!b.ok()) {
      std::fprintf(stderr, "%s\n", b.status().ToString().c_str());
      return 1;
    }
    bodies.push_back(std::move(*b));
  }
  Decompressor dec;
  BatchParser parser;
  ParsedBatch parsed;
  std::string body;
  using Clock = std::chrono::steady_clock;
  auto time_loop = [&](bool parse) {
    size_t batches = 0, events = 0, bytes = 0;
    auto start = Clock::now();
    auto end = start + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      for (const std::string& wire : bodies) {
        if (!dec.Decompress(ContentEncoding::kGzip, wire, 16 << 20, &body).ok()) std::abort();
        size_t size = body.size();
        bytes += size;
        if (parse) {
          body.reserve(size + vigil::ingest::kJsonPadding);
          if (!parser.Parse(body.data(), size, body.capacity(), 1700000000000LL, &parsed).ok()) {
            std::abort();
          }
          events += parsed.accepted;
          // The server moves the record to the log, so each batch starts with an empty one.
          std::string record = std::move(parsed.record);
        }
        ++batches;
      }
    }
    double s = std::chrono::duration<double>(Clock::now() - start).count();
    return std::make_tuple(s * 1e6 / batches, events / s, bytes / static_cast<double>(batches));
  };
  auto [gunzip_us, unused_rate, json_bytes] = time_loop(false);
  auto [total_us, events_per_s, unused_bytes] = time_loop(true);
  (void)unused_rate;
  (void)unused_bytes;
  std::printf(
      "parse bench, one core: %.0f-byte JSON batches: gunzip %.1f us, parse+validate+encode "
      "%.1f us, total %.1f us per batch (%.0f events/s)\n",
      json_bytes, gunzip_us, total_us - gunzip_us, total_us, events_per_s);
  return 0;
}
