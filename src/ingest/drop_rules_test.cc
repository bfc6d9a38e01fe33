// DropRules: glob matching, parsing (every kind of bad rule named), and applying rules to
// records made by the real BatchParser from JSON, checked by the event ids left.
#include "ingest/drop_rules.h"

#include <gtest/gtest.h>

#include "ingest/batch_parser.h"

namespace vigil::ingest {
namespace {

constexpr int64_t kNow = 1700000000000;

TEST(GlobMatchTest, StarsAndQuestionMarks) {
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("2.3.1", "2.3.1"));
  EXPECT_FALSE(GlobMatch("2.3.1", "2.3.10"));
  EXPECT_TRUE(GlobMatch("2.3.*", "2.3.10"));
  EXPECT_FALSE(GlobMatch("2.3.*", "2.4.0"));
  EXPECT_TRUE(GlobMatch("*-debug", "1.0-debug"));
  EXPECT_FALSE(GlobMatch("*-debug", "1.0-debug.1"));
  EXPECT_TRUE(GlobMatch("1.?", "1.5"));
  EXPECT_FALSE(GlobMatch("1.?", "1."));
  EXPECT_TRUE(GlobMatch("*a*b*c", "xxaxxbxxbxxc"));
  EXPECT_FALSE(GlobMatch("*a*b*c", "xxaxxbxxbxxcx"));
  EXPECT_TRUE(GlobMatch("https://*/v1/ping?*", "https://api.example.com/v1/ping?x=1"));
  EXPECT_TRUE(GlobMatch("a**b", "ab"));
  // A '*' in the text is an ordinary byte to the pattern's '*'.
  EXPECT_TRUE(GlobMatch("*", "*x"));
  EXPECT_TRUE(GlobMatch("a*", "a*b"));
  EXPECT_TRUE(GlobMatch("https://x/*", "https://x/*/y"));
  EXPECT_TRUE(GlobMatch("?", "*"));
  EXPECT_FALSE(GlobMatch("a*c", "a*b"));
  // Backtracking is bounded: a long mismatch is still answered quickly.
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*b", std::string(2000, 'a')));
}

std::string Error(std::string_view json) {
  Result<std::shared_ptr<const DropRules>> r = DropRules::Parse(json);
  return r.ok() ? "ok" : r.status().message();
}

TEST(DropRulesTest, ParsesAndWritesTheCanonicalForm) {
  auto rules = DropRules::Parse(
      R"({"drop": [{"url": "*/ping", "type": "network"}, {"app_version": "*-debug"}]})");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ((*rules)->size(), 2u);
  EXPECT_EQ((*rules)->ToJson(),
            R"({"drop":[{"type":"network","url":"*/ping"},{"app_version":"*-debug"}]})");
  auto none = DropRules::Parse(R"({"drop": []})");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)->empty());
}

TEST(DropRulesTest, BadRulesSayWhatIsWrong) {
  const std::string usage =
      "rules must be a JSON object {\"drop\": [rule, ...]}: each rule an object of conditions "
      "that must all hold, from app_version, os, type, name, error_type and url, each a string "
      "pattern ('*' any run of bytes, '?' one byte)";
  EXPECT_EQ(Error(""), usage);
  EXPECT_EQ(Error("{"), usage);
  EXPECT_EQ(Error("[]"), usage);
  EXPECT_EQ(Error("{}"), usage);
  EXPECT_EQ(Error(R"({"drop": {}})"), usage);
  EXPECT_EQ(Error(R"({"drop": [], "keep": []})"), "unknown field 'keep'; " + usage);
  EXPECT_EQ(Error(R"({"drop": [{}]})"),
            "rule 0: must be an object of one or more conditions; " + usage);
  EXPECT_EQ(Error(R"({"drop": [{"os": "ios"}, "x"]})"),
            "rule 1: must be an object of one or more conditions; " + usage);
  EXPECT_EQ(Error(R"({"drop": [{"os": 1}]})"), "rule 0: os must be a string of 1-256 bytes");
  EXPECT_EQ(Error(R"({"drop": [{"os": ""}]})"), "rule 0: os must be a string of 1-256 bytes");
  EXPECT_EQ(Error(R"({"drop": [{"name": ")" + std::string(257, 'x') + R"("}]})"),
            "rule 0: name must be a string of 1-256 bytes");
  EXPECT_EQ(Error(R"({"drop": [{"type": "crash*"}]})"),
            "rule 0: type must be one of session_start, crash, handled_exception, network, "
            "user_flow, custom");
  EXPECT_EQ(Error(R"({"drop": [{"os": "ios", "version": "1"}]})"),
            "rule 0: unknown condition 'version'; " + usage);
  EXPECT_EQ(Error(R"({"drop": [{"os": "ios", "os": "android"}]})"),
            "rule 0: a condition is given twice");
  std::string many = R"({"drop": [)";
  for (int i = 0; i <= 100; ++i) many += std::string(i ? "," : "") + R"({"os": "x"})";
  EXPECT_EQ(Error(many + "]}"), "at most 100 rules");
  EXPECT_EQ(Error(std::string(65 << 10, ' ')), "rules are over 64 KiB; " + usage);
}

// The ids of the events left in the record BatchParser makes of `events_json` once `rules`
// are applied, and how many were dropped.
std::pair<std::vector<std::string>, uint32_t> Kept(
    std::string_view rules, const std::string& events_json,
    const std::string& context =
        R"("device":{"id":"d1","os":"android"},"app":{"version":"2.3.1"},)") {
  auto parsed_rules = DropRules::Parse(rules);
  EXPECT_TRUE(parsed_rules.ok()) << parsed_rules.status().ToString();
  std::string json = R"({"batch_id":"b-1",)" + context + R"("events":[)" + events_json + "]}";
  const size_t size = json.size();
  json.reserve(size + kJsonPadding);
  BatchParser parser;
  ParsedBatch batch;
  EXPECT_TRUE(parser.Parse(json.data(), size, json.capacity(), kNow, &batch).ok());
  Result<uint32_t> dropped = (*parsed_rules)->Apply(&batch.record);
  EXPECT_TRUE(dropped.ok()) << dropped.status().ToString();
  std::vector<std::string> ids;
  if (!batch.record.empty()) {
    BatchRecord record;
    EXPECT_TRUE(DecodeBatchRecord(batch.record, &record).ok());
    EXPECT_EQ(record.header.batch_id, "b-1");
    for (const EventView& e : record.events) ids.emplace_back(e.id);
  }
  return {ids, dropped.ok() ? *dropped : 0};
}

const std::string kMixed =
    R"({"id":"s1","type":"session_start","ts":1700000000000},)"
    R"({"id":"c1","type":"custom","ts":1700000000000,"name":"debug_tap"},)"
    R"({"id":"c2","type":"custom","ts":1700000000000,"name":"purchase","attrs":{"sku":"x"}},)"
    R"({"id":"h1","type":"handled_exception","ts":1700000000000,)"
    R"("error":{"type":"java.net.SocketTimeoutException","reason":"timeout"}},)"
    R"({"id":"h2","type":"handled_exception","ts":1700000000000,)"
    R"("error":{"type":"java.lang.IllegalStateException","reason":"bad"}},)"
    R"({"id":"n1","type":"network","ts":1700000000000,"network":{"method":"GET",)"
    R"("url":"https://beacon.example.com/ping","status":204,"duration_ms":3}},)"
    R"({"id":"n2","type":"network","ts":1700000000000,"network":{"method":"GET",)"
    R"("url":"https://api.example.com/v1/cart","status":200,"duration_ms":30}})";

TEST(DropRulesTest, EachConditionDropsWhatItNames) {
  using Ids = std::vector<std::string>;
  EXPECT_EQ(Kept(R"({"drop":[]})", kMixed),
            std::make_pair(Ids{"s1", "c1", "c2", "h1", "h2", "n1", "n2"}, 0u));
  EXPECT_EQ(Kept(R"({"drop":[{"name":"debug_*"}]})", kMixed),
            std::make_pair(Ids{"s1", "c2", "h1", "h2", "n1", "n2"}, 1u));
  EXPECT_EQ(Kept(R"({"drop":[{"error_type":"java.net.*"}]})", kMixed),
            std::make_pair(Ids{"s1", "c1", "c2", "h2", "n1", "n2"}, 1u));
  EXPECT_EQ(Kept(R"({"drop":[{"url":"https://beacon.*"}]})", kMixed),
            std::make_pair(Ids{"s1", "c1", "c2", "h1", "h2", "n2"}, 1u));
  EXPECT_EQ(Kept(R"({"drop":[{"type":"custom"},{"type":"network"}]})", kMixed),
            std::make_pair(Ids{"s1", "h1", "h2"}, 4u));
  // Conditions of one rule must all hold.
  EXPECT_EQ(Kept(R"({"drop":[{"type":"handled_exception","error_type":"*State*"}]})", kMixed),
            std::make_pair(Ids{"s1", "c1", "c2", "h1", "n1", "n2"}, 1u));
  EXPECT_EQ(Kept(R"({"drop":[{"type":"network","name":"*"}]})", kMixed),
            std::make_pair(Ids{"s1", "c1", "c2", "h1", "h2", "n1", "n2"}, 0u));
  // Batch conditions drop every event of the batch.
  EXPECT_EQ(Kept(R"({"drop":[{"os":"android","app_version":"2.3.*"}]})", kMixed),
            std::make_pair(Ids{}, 7u));
  EXPECT_EQ(Kept(R"({"drop":[{"os":"ios"}]})", kMixed).second, 0u);
  EXPECT_EQ(Kept(R"({"drop":[{"app_version":"2.3.1","type":"session_start"}]})", kMixed),
            std::make_pair(Ids{"c1", "c2", "h1", "h2", "n1", "n2"}, 1u));
}

// A batch without app.version or device.os matches no pattern on them, not even "*".
TEST(DropRulesTest, AbsentContextMatchesNothing) {
  const std::string events = R"({"id":"s1","type":"session_start","ts":1700000000000})";
  EXPECT_EQ(Kept(R"({"drop":[{"app_version":"*"}]})", events, "").second, 0u);
  EXPECT_EQ(Kept(R"({"drop":[{"os":"*"}]})", events, R"("device":{"id":"d"},)").second, 0u);
  EXPECT_EQ(Kept(R"({"drop":[{"os":"*"}]})", events, R"("device":{"os":"ios"},)").second, 1u);
}

// What is kept is the event as it was: fields, order, context.
TEST(DropRulesTest, KeptEventsAreUnchanged) {
  auto rules = DropRules::Parse(R"({"drop":[{"name":"debug_*"}]})");
  ASSERT_TRUE(rules.ok());
  std::string json = R"({"batch_id":"b-9","device":{"id":"d1","os":"android"},)"
                     R"("app":{"version":"2.3.1"},"user":{"id":"u7"},"events":[)" +
                     kMixed + "]}";
  const size_t size = json.size();
  json.reserve(size + kJsonPadding);
  BatchParser parser;
  ParsedBatch batch;
  ASSERT_TRUE(parser.Parse(json.data(), size, json.capacity(), kNow, &batch).ok());
  BatchRecord before;
  const std::string original = batch.record;
  ASSERT_TRUE(DecodeBatchRecord(original, &before).ok());
  ASSERT_EQ((*rules)->Apply(&batch.record).value(), 1u);
  BatchRecord after;
  ASSERT_TRUE(DecodeBatchRecord(batch.record, &after).ok());
  EXPECT_EQ(after.header.user.bytes(), before.header.user.bytes());
  EXPECT_EQ(after.header.device.bytes(), before.header.device.bytes());
  EXPECT_EQ(after.header.received_ms, before.header.received_ms);
  ASSERT_EQ(after.events.size(), before.events.size() - 1);
  for (size_t i = 0, j = 0; i < before.events.size(); ++i) {
    if (before.events[i].id == "c1") continue;
    EXPECT_EQ(after.events[j].id, before.events[i].id);
    EXPECT_EQ(after.events[j].type, before.events[i].type);
    EXPECT_EQ(after.events[j].ts_ms, before.events[i].ts_ms);
    EXPECT_EQ(after.events[j].fields.bytes(), before.events[i].fields.bytes());
    ++j;
  }
  // Nothing dropped: the record is left as it was, byte for byte.
  std::string same = original;
  auto other = DropRules::Parse(R"({"drop":[{"name":"nothing"}]})");
  ASSERT_EQ((*other)->Apply(&same).value(), 0u);
  EXPECT_EQ(same, original);
  // A damaged record is Corruption, not a crash.
  std::string damaged = original.substr(0, original.size() / 2);
  EXPECT_EQ((*rules)->Apply(&damaged).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace vigil::ingest
