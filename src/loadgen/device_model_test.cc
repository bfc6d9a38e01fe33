// The synthetic fleet's batches: valid by the ingest contract, ids as SDKs make them (UUIDs,
// unique across runs, reproducible per seed), sessions that follow session_start, and the wire
// size the ingest benchmark is specified with (~2 KB gzipped for 20 events).
#include "loadgen/device_model.h"

#include <gtest/gtest.h>
#include <libdeflate.h>
#include <simdjson.h>

#include <set>
#include <string>

#include "ingest/batch_parser.h"

namespace vigil::loadgen {
namespace {

constexpr int64_t kNowMs = 1795574448470;

// xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx in lowercase hex, Y one of 8 9 a b (RFC 9562 version 4).
bool IsUuidV4(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (dash ? s[i] != '-' : !hex) return false;
  }
  return s[14] == '4' && std::string_view("89ab").find(s[19]) != std::string_view::npos;
}

std::vector<GeneratedBatch> Generate(uint64_t seed, const std::string& run_id, int count,
                                     int events_per_batch = 20) {
  GeneratorOptions options;
  options.seed = seed;
  options.run_id = run_id;
  options.events_per_batch = events_per_batch;
  BatchGenerator generator(MakeDevices(seed, 200), options);
  std::vector<GeneratedBatch> batches;
  for (int i = 0; i < count; ++i) batches.push_back(generator.Next(kNowMs + i * 1000));
  return batches;
}

TEST(DeviceModelTest, EveryEventIsAcceptedByTheIngestParser) {
  ingest::BatchParser parser;
  for (const GeneratedBatch& b : Generate(7, "r1", 300)) {
    std::string json = b.body;
    json.reserve(json.size() + ingest::kJsonPadding);
    ingest::ParsedBatch parsed;
    ASSERT_TRUE(parser.Parse(json.data(), json.size(), json.capacity(), kNowMs, &parsed).ok());
    EXPECT_EQ(parsed.accepted, 20u) << b.body;
    EXPECT_EQ(parsed.rejected, 0u) << (parsed.errors.empty() ? "" : parsed.errors[0].message);
    EXPECT_EQ(parsed.batch_id, b.batch_id);
  }
}

TEST(DeviceModelTest, EventIdsAreUuidsUniqueAcrossRunsAndReproducible) {
  std::set<std::string> ids;
  size_t events = 0;
  simdjson::dom::parser parser;
  for (const std::string run : {"r1", "r2"}) {
    for (const GeneratedBatch& b : Generate(7, run, 200)) {
      simdjson::dom::element doc = parser.parse(b.body);
      for (simdjson::dom::element e : doc["events"].get_array()) {
        std::string id{std::string_view(e["id"])};
        EXPECT_TRUE(IsUuidV4(id)) << id;
        ids.insert(id);
        ++events;
      }
    }
  }
  EXPECT_EQ(events, 2u * 200 * 20);
  EXPECT_EQ(ids.size(), events);  // none repeats, within a run or across the two

  std::vector<GeneratedBatch> a = Generate(9, "same", 20), b = Generate(9, "same", 20);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].body, b[i].body);
}

TEST(DeviceModelTest, SessionIdsChangeAtSessionStartAndOnlyThere) {
  // One device, so that its batches continue each other's sessions.
  GeneratorOptions options;
  options.seed = 3;
  options.run_id = "s";
  BatchGenerator generator(MakeDevices(3, 1), options);
  simdjson::dom::parser parser;
  std::string current;
  std::set<std::string> sessions;
  int starts = 0;
  for (int i = 0; i < 100; ++i) {
    GeneratedBatch b = generator.Next(kNowMs + i * 1000);
    simdjson::dom::element doc = parser.parse(b.body);
    for (simdjson::dom::element e : doc["events"].get_array()) {
      std::string session{std::string_view(e["session_id"])};
      if (std::string_view(e["type"]) == "session_start") {
        ++starts;
        EXPECT_NE(session, current);
        EXPECT_TRUE(sessions.insert(session).second) << "a session id came back: " << session;
        current = session;
      } else {
        EXPECT_EQ(session, current);
      }
    }
  }
  EXPECT_GT(starts, 10);
  EXPECT_EQ(sessions.size(), static_cast<size_t>(starts));
}

TEST(DeviceModelTest, TwentyEventBatchesAreAboutTwoKilobytesGzipped) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(6);
  size_t total = 0;
  std::vector<GeneratedBatch> batches = Generate(1, "z", 200);
  for (const GeneratedBatch& b : batches) {
    std::string out(libdeflate_gzip_compress_bound(c, b.body.size()), '\0');
    total += libdeflate_gzip_compress(c, b.body.data(), b.body.size(), out.data(), out.size());
  }
  libdeflate_free_compressor(c);
  const size_t mean = total / batches.size();
  EXPECT_GE(mean, 1700u);
  EXPECT_LE(mean, 2400u);
}

}  // namespace
}  // namespace vigil::loadgen
