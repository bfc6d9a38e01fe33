// The mapping cache: a parsed mapping written and mapped back keeps its summary and tables and
// retraces the same (the upstream cases through the cache are in proguard_test.cc); broken caches
// are refused with the right code and never read out of bounds.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "symbols/proguard_cache_format.h"
#include "symbols/proguard_mapping.h"
#include "symbols/retrace.h"

namespace vigil::symbols {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(VIGIL_FIXTURES_DIR) + "/proguard/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ProguardMapping Parsed(const std::string& text) {
  Result<ProguardMapping> r = ProguardMapping::Parse(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

TEST(ProguardCacheTest, SummaryAndTablesSurviveTheRoundTrip) {
  ProguardMapping parsed = Parsed(ReadFixture("mapping-r8-symbolicated_file_names.txt"));
  Result<ProguardMapping> cached = ProguardMapping::CacheFromBytes(parsed.WriteCache());
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  const MappingSummary& a = parsed.summary();
  const MappingSummary& b = cached->summary();
  EXPECT_EQ(b.compiler, "R8");
  EXPECT_EQ(a.compiler, b.compiler);
  EXPECT_EQ(a.compiler_version, b.compiler_version);
  EXPECT_EQ(a.min_api, b.min_api);
  EXPECT_EQ(a.pg_map_id, b.pg_map_id);
  EXPECT_EQ(a.pg_map_hash, b.pg_map_hash);
  EXPECT_EQ(a.map_version, b.map_version);
  EXPECT_EQ(a.newer_map_version, b.newer_map_version);
  EXPECT_EQ(a.class_count, b.class_count);
  EXPECT_EQ(a.method_count, b.method_count);
  EXPECT_EQ(a.field_count, b.field_count);
  EXPECT_EQ(a.skipped_metadata, b.skipped_metadata);
  EXPECT_EQ(a.has_line_info, b.has_line_info);
  EXPECT_EQ(a.content_uuid, b.content_uuid);
  EXPECT_EQ(parsed.mapping_id(), cached->mapping_id());
  ASSERT_EQ(parsed.classes().size(), cached->classes().size());
  for (size_t i = 0; i < parsed.classes().size(); ++i) {
    const auto& x = parsed.classes()[i];
    const auto& y = cached->classes()[i];
    EXPECT_EQ(parsed.str(x.obfuscated), cached->str(y.obfuscated));
    EXPECT_EQ(parsed.str(x.original), cached->str(y.original));
    EXPECT_EQ(parsed.str(x.source_file), cached->str(y.source_file));
    EXPECT_EQ(parsed.groups(x).size(), cached->groups(y).size());
  }
  EXPECT_FALSE(parsed.is_mapped());
  EXPECT_TRUE(cached->is_mapped());
  // Writing the cache of a cache gives the same bytes: nothing is lost or reordered.
  EXPECT_EQ(cached->WriteCache(), parsed.WriteCache());
}

TEST(ProguardCacheTest, MinApiAbsentStaysAbsent) {
  ProguardMapping parsed = Parsed("com.example.Main -> a:\n    1:1:void main():10 -> a\n");
  Result<ProguardMapping> cached = ProguardMapping::CacheFromBytes(parsed.WriteCache());
  ASSERT_TRUE(cached.ok());
  EXPECT_FALSE(cached->summary().min_api.has_value());
  EXPECT_EQ(cached->RemapClass("a").value_or(""), "com.example.Main");
}

TEST(ProguardCacheTest, OtherVersionIsUnsupportedAndOtherBytesAreCorruption) {
  std::string bytes = Parsed(ReadFixture("mapping-inlines.txt")).WriteCache();
  std::string other_version = bytes;
  const uint32_t v = pgcache::kVersion + 1;
  std::memcpy(other_version.data() + offsetof(pgcache::Header, version), &v, 4);
  EXPECT_EQ(ProguardMapping::CacheFromBytes(other_version).status().code(),
            StatusCode::kUnsupported);
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  EXPECT_EQ(ProguardMapping::CacheFromBytes(bad_magic).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(ProguardMapping::CacheFromBytes("").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(ProguardMapping::CacheFromBytes(ReadFixture("mapping-inlines.txt")).status().code(),
            StatusCode::kCorruption);
  EXPECT_FALSE(ProguardMapping::OpenCache(testing::TempDir() + "/no-such.pgcache").ok());
}

TEST(ProguardCacheTest, EveryTruncationIsRefused) {
  const std::string bytes = Parsed(ReadFixture("mapping-rewrite-complex.txt")).WriteCache();
  ASSERT_EQ(bytes.size() % 8, 0u);
  // Only the last section's zero padding (under 8 bytes) may go without losing data.
  for (size_t cut = 0; cut + 8 <= bytes.size(); ++cut) {
    Result<ProguardMapping> r = ProguardMapping::CacheFromBytes(bytes.substr(0, cut));
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
}

// Every byte of a real cache bent: refused, or accepted and still safe to query (ASan checks the
// reads). The same property the proguard_cache fuzz target explores at random.
TEST(ProguardCacheTest, BentBytesAreRefusedOrSafeToQuery) {
  // Small mappings with every table in use: rewrite rules and their conditions, outlines.
  for (const char* name : {"mapping-rewrite-complex", "mapping-outline"}) {
    const std::string mapping = ReadFixture(std::string(name) + ".txt");
    const std::string input =
        "java.lang.NullPointerException: x\n\tat a.a(SourceFile:1)\n\tat a.b(SourceFile:2)\n"
        "\tat b.a(SourceFile:3)\n\tat b.c(SourceFile:28)\n";
    const std::string bytes = Parsed(mapping).WriteCache();
    size_t accepted = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (uint8_t flip : {0x01, 0x80, 0xff}) {
        std::string bent = bytes;
        bent[i] = static_cast<char>(bent[i] ^ flip);
        Result<ProguardMapping> r = ProguardMapping::CacheFromBytes(std::move(bent));
        if (!r.ok()) continue;
        ++accepted;
        (void)RetraceStackTrace(*r, input);
        for (const auto& cls : r->classes()) {
          for (const auto& group : r->groups(cls)) {
            for (const auto& member : r->members(group)) {
              (void)r->str(r->method(member).name);
              for (const auto& rule : r->rewrite_rules(member)) {
                for (StrRef c : r->conditions(rule)) (void)r->str(c);
              }
            }
          }
        }
      }
    }
    // Flipped string bytes and counters make valid caches; flipped indices do not.
    EXPECT_GT(accepted, 0u) << name;
    EXPECT_LT(accepted, bytes.size() * 3) << name;
  }
}

TEST(ProguardCacheTest, MovedMappingsKeepAnsweringWhateverHoldsTheirTables) {
  // A tiny arena lives inside its std::string (small-string optimisation): moving the mapping
  // must re-point the views. A cache's views point into its image, which does not move.
  std::vector<ProguardMapping> mappings;
  for (int i = 0; i < 20; ++i) {
    ProguardMapping small = Parsed("x.Y -> a:\n");
    if (i % 2 == 1) {
      Result<ProguardMapping> cached = ProguardMapping::CacheFromBytes(small.WriteCache());
      ASSERT_TRUE(cached.ok());
      mappings.push_back(std::move(*cached));
    } else {
      mappings.push_back(std::move(small));  // the vector reallocates and moves them again
    }
  }
  for (const ProguardMapping& m : mappings) EXPECT_EQ(m.RemapClass("a").value_or(""), "x.Y");
  ProguardMapping moved = std::move(mappings[1]);
  EXPECT_EQ(moved.RemapClass("a").value_or(""), "x.Y");
  EXPECT_TRUE(moved.is_mapped());
}

}  // namespace
}  // namespace vigil::symbols
