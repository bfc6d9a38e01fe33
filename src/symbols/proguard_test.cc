// ProguardMapping and retrace, held against rust-proguard's fixtures (tests/fixtures/proguard, see
// PROVENANCE.md §2): the six input/expected pairs, every case of retrace_cases.json (read here
// with simdjson), the single-frame cases, a CRLF copy of mapping.txt, and broken mappings.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "symbols/proguard_mapping.h"
#include "symbols/retrace.h"

namespace vigil::symbols {
namespace {

std::string FixturePath(std::string_view name) {
  return std::string(VIGIL_FIXTURES_DIR) + "/proguard/" + std::string(name);
}

std::string ReadFixture(std::string_view name) {
  std::ifstream in(FixturePath(name), std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What rust's str::trim does to the whole text before its tests compare.
std::string_view TrimText(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string ToCrlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 16);
  for (char c : s) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

ProguardMapping MustParse(std::string_view text) {
  Result<ProguardMapping> r = ProguardMapping::Parse(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return std::move(ProguardMapping::Parse("").value());
  return std::move(r).value();
}

// `mapping` written to a cache file and mapped back: what the server queries.
ProguardMapping ThroughCache(const ProguardMapping& mapping) {
  static int n = 0;
  const std::string path = testing::TempDir() + "/proguard_test_" + std::to_string(::getpid()) +
                           "_" + std::to_string(n++) + ".pgcache";
  const std::string bytes = mapping.WriteCache();
  FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  if (f != nullptr) {
    EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
  }
  Result<ProguardMapping> r = ProguardMapping::OpenCache(path);
  std::remove(path.c_str());  // the mapping stays readable
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return std::move(ProguardMapping::Parse("").value());
  EXPECT_TRUE(r->is_mapped());
  return std::move(r).value();
}

std::string MustRetrace(const ProguardMapping& mapping, std::string_view trace) {
  Result<std::string> r = RetraceStackTrace(mapping, trace);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : std::string();
}

// ---------------------------------------------------------------------------------------------
// retrace_cases.json, loaded once with simdjson's DOM API.

struct ExpectedFrame {
  std::optional<std::string> class_name, method, file;
  std::optional<uint32_t> line;
};

struct FrameQuery {
  std::string class_name, method;
  uint32_t line = 0;
  size_t expected_count = 0;
  std::vector<ExpectedFrame> expected;
};

struct RetraceCase {
  std::string id, kind, mapping, mapping_file, input, expected;
  std::vector<FrameQuery> queries;
  std::map<std::string, std::string> remap_class;
};

// gtest prints parameters on failure; the id is what identifies a case.
void PrintTo(const RetraceCase& c, std::ostream* os) { *os << c.id; }

struct Cases {
  std::string error;  // non-empty if the file could not be read
  std::vector<RetraceCase> cases, file_frame_cases;
};

std::optional<std::string> OptString(simdjson::dom::object o, const char* key) {
  std::string_view v;
  if (o[key].get_string().get(v)) return std::nullopt;  // absent or null: not asserted
  return std::string(v);
}

bool ReadQueries(simdjson::dom::object c, std::vector<FrameQuery>* out) {
  simdjson::dom::array queries;
  if (c["queries"].get_array().get(queries)) return false;
  for (simdjson::dom::element qe : queries) {
    simdjson::dom::object q;
    FrameQuery fq;
    std::string_view cls, method;
    uint64_t line = 0, count = 0;
    simdjson::dom::array frames;
    if (qe.get_object().get(q) || q["class"].get_string().get(cls) ||
        q["method"].get_string().get(method) || q["line"].get_uint64().get(line) ||
        q["expected_count"].get_uint64().get(count) ||
        q["expected_frames"].get_array().get(frames)) {
      return false;
    }
    fq.class_name = std::string(cls);
    fq.method = std::string(method);
    fq.line = static_cast<uint32_t>(line);
    fq.expected_count = count;
    for (simdjson::dom::element fe : frames) {
      simdjson::dom::object f;
      if (fe.get_object().get(f)) return false;
      ExpectedFrame ef;
      ef.class_name = OptString(f, "class");
      ef.method = OptString(f, "method");
      ef.file = OptString(f, "file");
      uint64_t l = 0;
      if (!f["line"].get_uint64().get(l)) ef.line = static_cast<uint32_t>(l);
      fq.expected.push_back(std::move(ef));
    }
    out->push_back(std::move(fq));
  }
  return true;
}

bool ReadCase(simdjson::dom::element e, RetraceCase* rc) {
  simdjson::dom::object c;
  std::string_view id;
  if (e.get_object().get(c) || c["id"].get_string().get(id)) return false;
  rc->id = std::string(id);
  rc->kind = OptString(c, "kind").value_or("file_frames");
  rc->mapping = OptString(c, "mapping").value_or("");
  rc->mapping_file = OptString(c, "mapping_file").value_or("");
  rc->input = OptString(c, "input").value_or("");
  rc->expected = OptString(c, "expected").value_or("");
  if (rc->kind != "stacktrace" && !ReadQueries(c, &rc->queries)) return false;
  simdjson::dom::object remap;
  if (!c["expected_remap_class"].get_object().get(remap)) {
    for (auto field : remap) {
      std::string_view v;
      if (field.value.get_string().get(v)) return false;
      rc->remap_class[std::string(field.key)] = std::string(v);
    }
  }
  return true;
}

const Cases& LoadCases() {
  static const Cases* cases = [] {
    auto* out = new Cases;
    simdjson::padded_string json;
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    simdjson::dom::array cases_array, file_cases_array;
    if (simdjson::padded_string::load(FixturePath("retrace_cases.json")).get(json) ||
        parser.parse(json).get_object().get(root) || root["cases"].get_array().get(cases_array) ||
        root["file_frame_cases"].get_array().get(file_cases_array)) {
      out->error = "cannot read retrace_cases.json";
      return out;
    }
    for (auto [array, dest] : {std::pair{cases_array, &out->cases},
                               std::pair{file_cases_array, &out->file_frame_cases}}) {
      for (simdjson::dom::element e : array) {
        RetraceCase rc;
        if (!ReadCase(e, &rc)) {
          out->error = "malformed case in retrace_cases.json";
          return out;
        }
        dest->push_back(std::move(rc));
      }
    }
    return out;
  }();
  return *cases;
}

std::vector<RetraceCase> CasesOfKind(std::string_view kind) {
  std::vector<RetraceCase> out;
  for (const RetraceCase& c : LoadCases().cases) {
    if (c.kind == kind) out.push_back(c);
  }
  return out;
}

std::string CaseName(const testing::TestParamInfo<RetraceCase>& info) {
  std::string name = info.param.id + "_" + std::to_string(info.index);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// Checks one single-frame query against RetraceFrame. Upstream's remap_frame yields only member
// matches, so an expected count of 0 means "no member line matched" (class-only or unknown here).
void CheckQuery(const ProguardMapping& mapping, const FrameQuery& q) {
  SCOPED_TRACE(q.class_name + "." + q.method + ":" + std::to_string(q.line));
  FrameRetrace r = RetraceFrame(mapping, q.class_name, q.method, q.line);
  if (q.expected_count == 0) {
    EXPECT_NE(r.match, FrameMatch::kMethod);
    return;
  }
  ASSERT_EQ(r.match, FrameMatch::kMethod);
  ASSERT_EQ(r.frames.size(), q.expected_count);
  ASSERT_EQ(q.expected.size(), q.expected_count);
  for (size_t i = 0; i < q.expected.size(); ++i) {
    const ExpectedFrame& e = q.expected[i];
    const RetracedFrame& f = r.frames[i];
    if (e.class_name) {
      EXPECT_EQ(f.class_name, *e.class_name) << "frame " << i;
    }
    if (e.method) {
      EXPECT_EQ(f.method, *e.method) << "frame " << i;
    }
    if (e.file) {
      EXPECT_EQ(f.file, *e.file) << "frame " << i;
    }
    if (e.line) {
      EXPECT_EQ(f.line.value_or(0), *e.line) << "frame " << i;
    }
  }
}

TEST(RetraceCasesTest, FileHasTheDocumentedCases) {
  const Cases& cases = LoadCases();
  ASSERT_EQ(cases.error, "");
  EXPECT_EQ(cases.cases.size(), 54u);
  EXPECT_EQ(cases.file_frame_cases.size(), 3u);
  EXPECT_EQ(CasesOfKind("stacktrace").size(), 46u);
  EXPECT_EQ(CasesOfKind("frames").size(), 8u);
}

class StackTraceCaseTest : public testing::TestWithParam<RetraceCase> {};

TEST_P(StackTraceCaseTest, RetracesLikeUpstream) {
  const RetraceCase& c = GetParam();
  ProguardMapping mapping = MustParse(c.mapping);
  std::string out = MustRetrace(mapping, c.input);
  EXPECT_EQ(TrimText(out), TrimText(c.expected)) << "input:\n" << c.input;
  // The same mapping with CRLF line ends behaves the same, and so does its cache.
  ProguardMapping crlf = MustParse(ToCrlf(c.mapping));
  EXPECT_EQ(MustRetrace(crlf, c.input), out);
  EXPECT_EQ(MustRetrace(ThroughCache(mapping), c.input), out);
}

INSTANTIATE_TEST_SUITE_P(RetraceCases, StackTraceCaseTest,
                         testing::ValuesIn(CasesOfKind("stacktrace")), CaseName);

class FrameCaseTest : public testing::TestWithParam<RetraceCase> {};

TEST_P(FrameCaseTest, RetracesLikeUpstream) {
  const RetraceCase& c = GetParam();
  ProguardMapping mapping = MustParse(c.mapping);
  ASSERT_FALSE(c.queries.empty());
  for (const FrameQuery& q : c.queries) CheckQuery(mapping, q);
  ProguardMapping cached = ThroughCache(mapping);
  for (const FrameQuery& q : c.queries) CheckQuery(cached, q);
}

INSTANTIATE_TEST_SUITE_P(RetraceCases, FrameCaseTest, testing::ValuesIn(CasesOfKind("frames")),
                         CaseName);

class FileFrameCaseTest : public testing::TestWithParam<RetraceCase> {};

TEST_P(FileFrameCaseTest, RetracesLikeUpstream) {
  const RetraceCase& c = GetParam();
  ProguardMapping parsed = MustParse(ReadFixture(c.mapping_file));
  ProguardMapping cached = ThroughCache(parsed);
  for (const ProguardMapping* mapping : {&parsed, &cached}) {
    ASSERT_FALSE(c.queries.empty());
    for (const FrameQuery& q : c.queries) CheckQuery(*mapping, q);
    for (const auto& [obfuscated, original] : c.remap_class) {
      EXPECT_EQ(mapping->RemapClass(obfuscated).value_or("<none>"), original);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(RetraceCases, FileFrameCaseTest,
                         testing::ValuesIn(LoadCases().file_frame_cases), CaseName);

// ---------------------------------------------------------------------------------------------
// The six input/expected pairs.

class FixturePairTest : public testing::TestWithParam<const char*> {};

TEST_P(FixturePairTest, RetracesToExpected) {
  std::string name = GetParam();
  ProguardMapping parsed = MustParse(ReadFixture(name + ".txt"));
  ProguardMapping cached = ThroughCache(parsed);
  for (const ProguardMapping* mapping : {&parsed, &cached}) {
    std::string out = MustRetrace(*mapping, ReadFixture(name + ".input.txt"));
    std::string expected = ReadFixture(name + ".expected.txt");
    if (name == "mapping-rewrite-complex") {
      EXPECT_EQ(out, expected);  // upstream compares this one exactly
    } else {
      EXPECT_EQ(TrimText(out), TrimText(expected));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixturePairTest,
                         testing::Values("mapping-inlines", "mapping-outline-complex",
                                         "mapping-rewrite-complex",
                                         "mapping-r8-symbolicated_file_names",
                                         "mapping-zero-line-info", "mapping-inline-no-base"),
                         [](const testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

// ---------------------------------------------------------------------------------------------
// mapping.txt, LF and CRLF.

// Everything a query can observe, as text.
std::string Dump(const ProguardMapping& m) {
  std::string out;
  for (const auto& cls : m.classes()) {
    out += std::string(m.str(cls.obfuscated)) + "=" + std::string(m.str(cls.original)) + " " +
           std::string(m.str(cls.source_file)) + " " + std::to_string(cls.flags) + "\n";
    for (const auto& group : m.groups(cls)) {
      for (const auto& member : m.members(group)) {
        const auto& method = m.method(member);
        out += "  " + std::string(m.str(group.obfuscated)) + " " +
               std::to_string(member.obf_start) + ":" + std::to_string(member.obf_end) + " " +
               std::to_string(member.orig_start) + ":" + std::to_string(member.orig_end) + " " +
               std::string(m.str(method.class_name)) + "." + std::string(m.str(method.name)) + "(" +
               std::string(m.str(method.arguments)) + ") " +
               std::string(m.str(member.return_type)) + " " + std::to_string(method.flags) +
               std::to_string(member.flags) + "\n";
      }
    }
  }
  return out;
}

TEST(ProguardMappingTest, ParsesMappingTxt) {
  std::string text = ReadFixture("mapping.txt");
  ProguardMapping m = MustParse(text);
  const MappingSummary& s = m.summary();
  EXPECT_GT(s.class_count, 100u);
  EXPECT_GT(s.method_count, 1000u);
  EXPECT_GT(s.field_count, 100u);
  EXPECT_TRUE(s.has_line_info);
  EXPECT_EQ(s.skipped_metadata, 0u);
  EXPECT_TRUE(s.pg_map_id.empty());
  // No pg_map_id: the mapping is filed under its content UUID.
  EXPECT_EQ(m.mapping_id(), s.content_uuid);
  EXPECT_EQ(s.content_uuid.size(), 36u);
  // Classes are sorted and unique, so lookups can binary search.
  auto classes = m.classes();
  for (size_t i = 1; i < classes.size(); ++i) {
    EXPECT_LT(m.str(classes[i - 1].obfuscated), m.str(classes[i].obfuscated));
  }
  EXPECT_LT(m.memory_bytes(), text.size() * 4);
}

TEST(ProguardMappingTest, CrlfCopyOfMappingTxtBehavesTheSame) {
  std::string lf = ReadFixture("mapping.txt");
  ProguardMapping a = MustParse(lf);
  ProguardMapping b = MustParse(ToCrlf(lf));
  EXPECT_EQ(Dump(a), Dump(b));
  EXPECT_EQ(a.summary().class_count, b.summary().class_count);
  EXPECT_EQ(a.summary().method_count, b.summary().method_count);
  EXPECT_EQ(a.summary().field_count, b.summary().field_count);
  // The id is over the exact bytes, as Sentry's tooling computes it.
  EXPECT_NE(a.summary().content_uuid, b.summary().content_uuid);
  for (const RetraceCase& c : LoadCases().file_frame_cases) {
    if (c.mapping_file != "mapping.txt") continue;
    for (const FrameQuery& q : c.queries) CheckQuery(b, q);
    for (const auto& [obfuscated, original] : c.remap_class) {
      EXPECT_EQ(b.RemapClass(obfuscated).value_or("<none>"), original);
    }
  }
  std::string trace =
      "java.lang.RuntimeException: x\r\n\tat android.support.constraint.a.a.a(:320)\r\n";
  EXPECT_EQ(MustRetrace(a, trace), MustRetrace(b, trace));
}

TEST(ProguardMappingTest, ContentUuidMatchesUpstream) {
  // rust-proguard tests/basic.rs (test_inlines) states this UUID for mapping-inlines.txt.
  ProguardMapping m = MustParse(ReadFixture("mapping-inlines.txt"));
  EXPECT_EQ(m.summary().content_uuid, "3828bd45-950f-5e77-9737-b6b3a1d80299");
}

TEST(ProguardMappingTest, ReadsR8Headers) {
  ProguardMapping m = MustParse(ReadFixture("mapping-r8-symbolicated_file_names.txt"));
  const MappingSummary& s = m.summary();
  EXPECT_EQ(s.compiler, "R8");
  EXPECT_EQ(s.compiler_version, "8.3.36");
  EXPECT_EQ(s.min_api, 24u);
  EXPECT_EQ(s.pg_map_id, "48ffd94");
  EXPECT_EQ(s.pg_map_hash,
            "SHA-256 48ffd9478fda293e1c713db4cc7c449781a9e799fa504e389ee32ed19775a3ba");
  EXPECT_EQ(s.map_version, "2.2");
  EXPECT_FALSE(s.newer_map_version);
  EXPECT_EQ(m.mapping_id(), "48ffd94");
  EXPECT_EQ(s.class_count, 5u);
  EXPECT_EQ(s.skipped_metadata, 0u);

  const auto* lambda = m.FindClass("a.c");
  ASSERT_NE(lambda, nullptr);
  EXPECT_EQ(m.str(lambda->original),
            "io.wzieba.r8fullmoderenamessources.MainActivity$$ExternalSyntheticLambda0");
  EXPECT_EQ(m.str(lambda->source_file), "R8$$SyntheticClass");
  EXPECT_TRUE(lambda->flags & ProguardMapping::kSynthesized);
  const auto* foobar = m.FindClass("a.a");
  ASSERT_NE(foobar, nullptr);
  EXPECT_EQ(m.str(foobar->source_file), "Foobar.kt");
  EXPECT_FALSE(foobar->flags & ProguardMapping::kSynthesized);
  // A method line carries its own synthesized flag.
  auto members =
      m.FindMembers(*m.FindClass("io.wzieba.r8fullmoderenamessources.MainActivity"), "a");
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(m.str(m.method(members[0]).name), "$r8$lambda$pOQDVg57r6gG0-DzwbGf17BfNbs");
  EXPECT_TRUE(m.method(members[0]).flags & ProguardMapping::kSynthesized);
  EXPECT_EQ(members[0].obf_start, 1u);
  EXPECT_EQ(members[0].obf_end, 1u);
  EXPECT_EQ(members[0].orig_start, 0u);
  EXPECT_EQ(members[0].orig_end, 0u);
}

TEST(ProguardMappingTest, ReadsOutlineMetadata) {
  ProguardMapping m = MustParse(ReadFixture("mapping-outline.txt"));
  const auto* outline = m.FindClass("a");
  ASSERT_NE(outline, nullptr);
  auto outline_members = m.FindMembers(*outline, "a");
  ASSERT_EQ(outline_members.size(), 1u);
  EXPECT_TRUE(m.method(outline_members[0]).flags & ProguardMapping::kOutline);
  // `1:2:int outline() -> a` has no original lines: they are the obfuscated ones.
  EXPECT_EQ(outline_members[0].orig_start, 1u);
  EXPECT_EQ(outline_members[0].orig_end, 2u);

  auto callers = m.FindMembers(*m.FindClass("b"), "s");
  ASSERT_EQ(callers.size(), 3u);
  EXPECT_TRUE(m.outline_positions(callers[0]).empty());
  auto positions = m.outline_positions(callers[2]);
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[0].outline_line, 1u);
  EXPECT_EQ(positions[0].caller_line, 4u);
  EXPECT_EQ(positions[1].outline_line, 2u);
  EXPECT_EQ(positions[1].caller_line, 5u);
}

TEST(ProguardMappingTest, ReadsRewriteFrameRules) {
  ProguardMapping m = MustParse(ReadFixture("mapping-rewrite-complex.txt"));
  auto start = m.FindMembers(*m.FindClass("a"), "start");
  ASSERT_EQ(start.size(), 4u);
  // The rule follows the third line of the inline chain.
  EXPECT_TRUE(m.rewrite_rules(start[0]).empty());
  auto rules = m.rewrite_rules(start[2]);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].remove_inner_frames, 2u);
  EXPECT_FALSE(rules[0].has_unknown_condition);
  auto conditions = m.conditions(rules[0]);
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(m.str(conditions[0]), "Ljava/lang/NullPointerException;");
  // Qualified names put the frame in another class.
  EXPECT_TRUE(start[0].flags & ProguardMapping::kForeignClass);
  EXPECT_EQ(m.str(m.method(start[0]).class_name), "com.example.flow.Inliner");
  EXPECT_FALSE(start[2].flags & ProguardMapping::kForeignClass);
}

TEST(ProguardMappingTest, ReadsResidualSignaturesAndIndentedMetadata) {
  ProguardMapping m = MustParse(ReadFixture("mapping-outline-complex.txt"));
  EXPECT_EQ(m.summary().skipped_metadata, 0u);
  size_t with_signature = 0, with_rules = 0;
  for (const auto& cls : m.classes()) {
    for (const auto& group : m.groups(cls)) {
      for (const auto& member : m.members(group)) {
        if (member.residual_signature.size > 0) {
          ++with_signature;
          EXPECT_EQ(m.str(member.residual_signature).front(), '(');
        }
        if (!m.rewrite_rules(member).empty()) ++with_rules;
      }
    }
  }
  EXPECT_GT(with_signature, 0u);
  EXPECT_GT(with_rules, 0u);
}

// ---------------------------------------------------------------------------------------------
// The retrace API beyond the upstream vectors.

TEST(RetraceTest, UnknownClassIsLeftAlone) {
  ProguardMapping m = MustParse("com.example.Main -> a:\n    1:1:void main():10 -> a\n");
  FrameRetrace r = RetraceFrame(m, "b", "a", 1);
  EXPECT_EQ(r.match, FrameMatch::kUnknownClass);
  EXPECT_TRUE(r.frames.empty());
}

TEST(RetraceTest, UnknownMethodDeobfuscatesTheClassOnly) {
  ProguardMapping m = MustParse("com.example.Main -> a:\n    1:1:void main():10 -> a\n");
  FrameRetrace r = RetraceFrame(m, "a", "zz", 7, "SourceFile");
  EXPECT_EQ(r.match, FrameMatch::kClassOnly);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].class_name, "com.example.Main");
  EXPECT_EQ(r.frames[0].method, "zz");
  EXPECT_EQ(r.frames[0].file, "Main.java");
  EXPECT_EQ(r.frames[0].line, 7u);
}

TEST(RetraceTest, InlineChainIsOneAlternative) {
  ProguardMapping m = MustParse(
      "com.example.Main -> a:\n"
      "    1:1:void com.example.Util.clamp(int):40:42 -> f\n"
      "    1:1:void draw():15 -> f\n"
      "    1:1:void render():88 -> f\n");
  FrameRetrace r = RetraceFrame(m, "a", "f", 1);
  ASSERT_EQ(r.match, FrameMatch::kMethod);
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_FALSE(r.ambiguous());
  EXPECT_EQ(r.frames[0].class_name, "com.example.Util");
  EXPECT_EQ(r.frames[0].file, "Util.java");
  EXPECT_EQ(r.frames[1].method, "draw");
  EXPECT_EQ(r.frames[2].line, 88u);
}

TEST(RetraceTest, OverloadsOnOneLineAreAlternatives) {
  ProguardMapping m = MustParse(
      "com.example.Main -> a:\n"
      "    1:1:void overload():7:7 -> o\n"
      "    1:1:void overload(int):15:15 -> o\n");
  FrameRetrace r = RetraceFrame(m, "a", "o", 1);
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_TRUE(r.ambiguous());
  EXPECT_EQ(r.frames[0].alternative, 0u);
  EXPECT_EQ(r.frames[1].alternative, 1u);
}

TEST(RetraceTest, SynthesizedFramesAreFlagged) {
  ProguardMapping m = MustParse(ReadFixture("mapping-r8-symbolicated_file_names.txt"));
  FrameRetrace r = RetraceFrame(m, "a.c", "onClick", 1);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_TRUE(r.frames[0].synthesized);
  EXPECT_EQ(r.frames[0].file, "MainActivity");  // R8$$SyntheticClass: the outer class name
  FrameRetrace plain = RetraceFrame(m, "a.a", "a", 3);
  ASSERT_EQ(plain.frames.size(), 1u);
  EXPECT_FALSE(plain.frames[0].synthesized);
}

TEST(RetraceTest, StackRetracerDropsOutlinesAndMapsTheCaller) {
  ProguardMapping m = MustParse(ReadFixture("mapping-outline.txt"));
  StackRetracer retracer(&m);
  EXPECT_EQ(retracer.OnException("java.lang.IllegalStateException"), std::nullopt);
  FrameRetrace outline = retracer.OnFrame("a", "a", 2);
  EXPECT_EQ(outline.match, FrameMatch::kOutline);
  // The caller at 27 ran outline position 2, which the callsite maps to its line 5 -> 100.
  FrameRetrace caller = retracer.OnFrame("b", "s", 27);
  ASSERT_EQ(caller.frames.size(), 1u);
  EXPECT_EQ(caller.frames[0].method, "outlineCaller");
  EXPECT_EQ(caller.frames[0].line, 100u);
  // Without the outline frame before it, 27 is just 27.
  FrameRetrace alone = retracer.OnFrame("b", "s", 27);
  ASSERT_EQ(alone.frames.size(), 1u);
  EXPECT_EQ(alone.frames[0].line, 0u);
}

TEST(RetraceTest, RewriteFrameAppliesOnlyRightAfterTheException) {
  ProguardMapping m = MustParse(ReadFixture("mapping-rewrite-complex.txt"));
  StackRetracer retracer(&m);
  retracer.OnException("java.lang.NullPointerException");
  EXPECT_EQ(retracer.OnFrame("a", "start", 10).frames.size(), 1u);
  EXPECT_EQ(retracer.OnFrame("a", "start", 10).frames.size(), 3u);
  retracer.OnException("java.lang.NullPointerException");
  retracer.OnOtherLine();
  EXPECT_EQ(retracer.OnFrame("a", "start", 10).frames.size(), 3u);
  retracer.OnException("java.lang.IllegalStateException");  // the rule is for NPEs
  EXPECT_EQ(retracer.OnFrame("a", "start", 10).frames.size(), 3u);
}

TEST(RetraceTest, RewriteFrameThatRemovesEverythingDropsTheFrame) {
  ProguardMapping m = MustParse(
      "com.example.Main -> a:\n"
      "    1:1:void main():10 -> a\n"
      "    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":"
      "[\"throws(Ljava/lang/NullPointerException;)\"],\"actions\":[\"removeInnerFrames(5)\"]}\n");
  EXPECT_EQ(MustRetrace(m, "java.lang.NullPointerException\n\tat a.a(:1)\n\tat b.c(:2)\n"),
            "java.lang.NullPointerException\n\tat b.c(:2)\n");
}

TEST(RetraceTest, DeobfuscatesExceptionLinesUpstreamLeavesAlone) {
  ProguardMapping m = MustParse(
      "com.example.BadThing -> a.a:\n"
      "com.example.Main -> b:\n"
      "    1:1:void main():10 -> a\n"
      "    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":"
      "[\"throws(Lcom/example/BadThing;)\"],\"actions\":[\"removeInnerFrames(1)\"]}\n"
      "    1:1:void caller():20 -> a\n");
  std::string in =
      "Exception in thread \"main\" a.a: first\n"
      "second line of the message\n"
      "\tat b.a(:1)\n"
      "\tSuppressed: a.a\n"
      "\t\tat b.a(:1)\n"
      "\tCaused by: a.a: inner\n";
  std::string want =
      "Exception in thread \"main\" com.example.BadThing: first\n"
      "second line of the message\n"
      "    at com.example.Main.caller(Main.java:20)\n"
      "\tSuppressed: com.example.BadThing\n"
      "    at com.example.Main.caller(Main.java:20)\n"
      "\tCaused by: com.example.BadThing: inner\n";
  EXPECT_EQ(MustRetrace(m, in), want);
}

TEST(RetraceTest, OversizedTraceIsRejected) {
  ProguardMapping m = MustParse("");
  std::string big(kMaxRetraceInputBytes + 1, 'x');
  EXPECT_EQ(RetraceStackTrace(m, big).status().code(), StatusCode::kTooLarge);
}

// ---------------------------------------------------------------------------------------------
// Broken mappings: a named error or a lenient skip, never a crash.

void ExpectError(std::string_view text, std::string_view fragment) {
  Result<ProguardMapping> r = ProguardMapping::Parse(text);
  ASSERT_FALSE(r.ok()) << "accepted: " << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

TEST(ProguardMappingErrorTest, MalformedLinesNameTheLine) {
  ExpectError("a.b.C a:\n", "line 1: class line without ' -> '");
  ExpectError("a.b.C -> a\n", "line 1: class line must end with ':'");
  ExpectError("a.b.C -> :\n", "bad obfuscated class name");
  ExpectError("# header\n    void f() -> a\n", "line 2: member line before any class line");
  ExpectError("a.b.C -> a:\n    void f()\n", "line 2: member line without ' -> '");
  ExpectError("a.b.C -> a:\n    1:x:void f() -> a\n", "line 2: expected 'start:end:'");
  ExpectError("a.b.C -> a:\n    14:void f() -> a\n", "line 2: expected 'start:end:'");
  ExpectError("a.b.C -> a:\n    1:2:void f():3:x -> a\n", "line 2: expected ':line'");
  ExpectError("a.b.C -> a:\n    1:2:void f(int -> a\n", "argument list without ')'");
  ExpectError("a.b.C -> a:\n    void f() -> \n", "bad obfuscated member name");
  ExpectError("a.b.C -> a:\n    void -> a\n", "expected 'type name'");
  ExpectError("a.b.C -> a:\n    void a.() -> a\n", "bad class-qualified method name");
  ExpectError("a.b.C -> a:\n    99999999999:1:void f() -> a\n", "numbers up to 2^31-1");
  ExpectError("\x01\x02\xff\xfe garbage\n", "line 1:");
}

TEST(ProguardMappingErrorTest, HugeLinesAreRejectedAndLongOnesAccepted) {
  std::string huge = "a.b.C -> " + std::string(kMaxMappingLineBytes, 'a') + ":\n";
  ExpectError(huge, "line 1: longer than");
  std::string long_name(200000, 'x');
  ProguardMapping m = MustParse("com." + long_name + " -> a:\n    void f() -> " + long_name + "\n");
  EXPECT_EQ(m.RemapClass("a").value_or("").size(), long_name.size() + 4);
}

TEST(ProguardMappingErrorTest, OversizedMappingIsTooLarge) {
  // A mapping over the cap is refused before a byte is read (the pages are never touched).
  size_t size = kMaxMappingBytes + 1;
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  Result<ProguardMapping> r =
      ProguardMapping::Parse(std::string_view(static_cast<const char*>(p), size));
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge);
  munmap(p, size);
}

TEST(ProguardMappingErrorTest, TruncationAnywhereIsAnErrorOrAValidPrefix) {
  std::string text = ReadFixture("mapping-outline-complex.txt");
  size_t line_cuts = 0;
  for (size_t cut = 0; cut < text.size(); cut += 997) {
    Result<ProguardMapping> r = ProguardMapping::Parse(std::string_view(text).substr(0, cut));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("mapping line"), std::string::npos);
    }
  }
  // Cut at a line end, every prefix is a valid mapping.
  for (size_t pos = text.find('\n'); pos != std::string::npos; pos = text.find('\n', pos + 4001)) {
    Result<ProguardMapping> r = ProguardMapping::Parse(std::string_view(text).substr(0, pos + 1));
    EXPECT_TRUE(r.ok()) << "cut at " << pos << ": " << r.status().ToString();
    ++line_cuts;
  }
  EXPECT_GT(line_cuts, 10u);
}

TEST(ProguardMappingErrorTest, BadMetadataIsSkippedAndCounted) {
  ProguardMapping m = MustParse(
      "# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"2.2\"}\n"
      "com.example.Main -> a:\n"
      "# {\"id\":\"sourceFile\",\"fileName\":\"Main.kt\"}\n"
      "# {\"id\":\"sourceFile\",\"fileName\":42}\n"
      "# {\"id\":\"com.example.future\",\"x\":1}\n"
      "# {not json\n"
      "# {\"no_id\":true}\n"
      "    1:1:void main():10 -> a\n"
      "    # {\"id\":\"com.android.tools.r8.outlineCallsite\",\"positions\":{\"1\":-3}}\n"
      "    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[],\"actions\":[]}\n"
      "    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":"
      "[\"throws(Lx;)\"],\"actions\":[\"removeInnerFrames(x)\"]}\n"
      "# just a comment\n"
      "# {\"id\":\"com.android.tools.r8.synthesized\"}\n");
  EXPECT_EQ(m.summary().skipped_metadata, 7u);
  const auto* cls = m.FindClass("a");
  ASSERT_NE(cls, nullptr);
  EXPECT_EQ(m.str(cls->source_file), "Main.kt");
  auto members = m.FindMembers(*cls, "a");
  ASSERT_EQ(members.size(), 1u);
  EXPECT_TRUE(m.outline_positions(members[0]).empty());
  EXPECT_TRUE(m.rewrite_rules(members[0]).empty());
  // The comment line detached the last metadata line from the method.
  EXPECT_FALSE(m.method(members[0]).flags & ProguardMapping::kSynthesized);
}

TEST(ProguardMappingErrorTest, NewerMapVersionMetadataIsIgnored) {
  ProguardMapping m = MustParse(
      "# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"3.0\"}\n"
      "com.example.Main -> a:\n"
      "# {\"id\":\"sourceFile\",\"fileName\":\"Main.kt\"}\n"
      "    1:1:void main():10 -> a\n");
  EXPECT_TRUE(m.summary().newer_map_version);
  EXPECT_EQ(m.summary().skipped_metadata, 1u);
  EXPECT_EQ(m.FindClass("a")->source_file.size, 0u);
  // The mapping itself still retraces.
  FrameRetrace r = RetraceFrame(m, "a", "a", 1);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].line, 10u);
}

TEST(ProguardMappingErrorTest, EmptyAndCommentOnlyMappingsAreEmpty) {
  for (std::string_view text : {"", "\n\n", "\xef\xbb\xbf", "# compiler: R8\r\n   \r\n"}) {
    ProguardMapping m = MustParse(text);
    EXPECT_TRUE(m.classes().empty());
    EXPECT_EQ(m.RemapClass("a"), std::nullopt);
  }
}

TEST(ProguardMappingErrorTest, DuplicateClassLinesMerge) {
  ProguardMapping m = MustParse(
      "com.example.Old -> a:\n"
      "    1:1:void one():10 -> x\n"
      "com.example.New -> a:\n"
      "    2:2:void two():20 -> x\n");
  EXPECT_EQ(m.classes().size(), 1u);
  EXPECT_EQ(m.RemapClass("a"), "com.example.New");
  EXPECT_EQ(m.FindMembers(*m.FindClass("a"), "x").size(), 2u);
}

}  // namespace
}  // namespace vigil::symbols
