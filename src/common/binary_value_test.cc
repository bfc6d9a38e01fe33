// Binary values: encoding round trips to JSON, lookups, and safety on corrupt bytes.
#include "common/binary_value.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

std::string Encode(const std::function<void(BinaryValueWriter&)>& f) {
  std::string out;
  BinaryValueWriter w(&out);
  f(w);
  return out;
}

std::string ToJson(std::string_view bytes) {
  BinaryValue v;
  size_t n = 0;
  EXPECT_TRUE(BinaryValue::Parse(bytes, &v, &n));
  EXPECT_EQ(n, bytes.size());
  std::string json;
  JsonWriter jw(&json);
  v.ToJson(&jw);
  return json;
}

TEST(BinaryValueTest, NestedObjectRoundTripsToJsonInOrder) {
  std::string bytes = Encode([](BinaryValueWriter& w) {
    w.BeginObject();
    w.Key("z");
    w.Int(-5);
    w.Key("a");
    w.BeginArray();
    w.String("x\"y");
    w.Double(1.5);
    w.Bool(true);
    w.Null();
    w.BeginObject();
    w.EndObject();
    w.EndArray();
    w.Key("big");
    w.Uint(18446744073709551615ull);
    w.EndObject();
  });
  EXPECT_EQ(ToJson(bytes), R"({"z":-5,"a":["x\"y",1.5,true,null,{}],"big":18446744073709551615})");
}

TEST(BinaryValueTest, GetFindsMembersAndCountsThem) {
  std::string bytes = Encode([](BinaryValueWriter& w) {
    w.BeginObject();
    w.Key("method");
    w.String("GET");
    w.Key("status");
    w.Int(200);
    w.EndObject();
  });
  BinaryValue v(bytes);
  EXPECT_EQ(v.Count(), 2u);
  EXPECT_EQ(v.Get("method").AsString(), "GET");
  EXPECT_EQ(v.Get("status").AsInt(), 200);
  EXPECT_FALSE(v.Get("missing").present());
  EXPECT_FALSE(v.Get("status").is_string());
}

TEST(BinaryValueTest, GetAllTakesTheFirstOfRepeatedKeysLikeGet) {
  std::string bytes = Encode([](BinaryValueWriter& w) {
    w.BeginObject();
    w.Key("threads");
    w.BeginArray();
    w.BeginObject();
    w.Key("type");  // nested: not a member of the outer object
    w.String("inner");
    w.EndObject();
    w.EndArray();
    w.Key("type");
    w.String("first");
    w.Key("type");
    w.String("second");
    w.Key("reason");
    w.Int(7);
    w.EndObject();
  });
  BinaryValue v(bytes);
  BinaryValue type, reason, threads, missing;
  v.GetAll({{"type", &type}, {"reason", &reason}, {"threads", &threads}, {"missing", &missing}});
  EXPECT_EQ(type.AsString(), "first");
  EXPECT_EQ(type.bytes(), v.Get("type").bytes());
  EXPECT_EQ(reason.AsInt(), 7);
  EXPECT_TRUE(threads.is_array());
  EXPECT_EQ(threads.Count(), 1u);
  EXPECT_FALSE(missing.present());

  // Not an object: everything absent, including outputs that held a value before.
  std::string array = Encode([](BinaryValueWriter& w) {
    w.BeginArray();
    w.String("type");
    w.EndArray();
  });
  BinaryValue(array).GetAll({{"type", &type}, {"reason", &reason}});
  EXPECT_FALSE(type.present());
  EXPECT_FALSE(reason.present());
}

TEST(BinaryValueTest, EveryTruncationIsRejected) {
  std::string bytes = Encode([](BinaryValueWriter& w) {
    w.BeginObject();
    w.Key("k");
    w.BeginArray();
    w.String("hello");
    w.Int(1234567);
    w.EndArray();
    w.EndObject();
  });
  for (size_t len = 0; len < bytes.size(); ++len) {
    BinaryValue v;
    size_t n;
    EXPECT_FALSE(BinaryValue::Parse(std::string_view(bytes).substr(0, len), &v, &n)) << len;
  }
}

TEST(BinaryValueTest, CorruptCountsAndSizesAreRejected) {
  std::string bytes = Encode([](BinaryValueWriter& w) {
    w.BeginArray();
    w.Int(1);
    w.EndArray();
  });
  std::string bad_count = bytes;
  bad_count[1] = 5;
  BinaryValue v;
  size_t n;
  EXPECT_FALSE(BinaryValue::Parse(bad_count, &v, &n));
  std::string bad_tag = bytes;
  bad_tag[0] = 42;
  EXPECT_FALSE(BinaryValue::Parse(bad_tag, &v, &n));
}

// Deeper than the writers keep in themselves (8 open containers for BinaryValueWriter, 64 for
// JsonWriter): counts, sizes and commas stay right at every level, on the way in and out.
TEST(BinaryValueTest, NestingPastTheWritersInlineDepthCountsEveryLevel) {
  constexpr int kDepth = 30;
  std::string bytes = Encode([](BinaryValueWriter& w) {
    for (int i = 0; i < kDepth; ++i) {
      w.BeginObject();
      w.Key("n");
      w.Int(i);
      w.Key("c");
    }
    w.BeginArray();
    w.Int(1);
    w.Int(2);
    w.EndArray();
    for (int i = kDepth - 1; i >= 0; --i) {
      w.Key("e");
      w.Int(-i);
      w.EndObject();
    }
  });
  std::string expected;
  for (int i = 0; i < kDepth; ++i) expected += "{\"n\":" + std::to_string(i) + ",\"c\":";
  expected += "[1,2]";
  for (int i = kDepth - 1; i >= 0; --i) expected += ",\"e\":" + std::to_string(-i) + "}";
  EXPECT_EQ(ToJson(bytes), expected);

  std::string json;
  JsonWriter jw(&json);
  constexpr int kJsonDepth = 70;
  for (int i = 0; i < kJsonDepth; ++i) jw.BeginArray().Int(i);
  for (int i = 0; i < kJsonDepth; ++i) jw.EndArray().Int(7);
  std::string want;
  for (int i = 0; i < kJsonDepth; ++i) want += "[" + std::to_string(i) + ",";
  want.pop_back();  // the innermost array holds just its number
  for (int i = 0; i < kJsonDepth; ++i) want += i + 1 < kJsonDepth ? "],7" : "]7";
  EXPECT_EQ(json, want);
}

TEST(BinaryValueTest, DeepNestingIsRejectedNotRecursedForever) {
  std::string bytes;
  BinaryValueWriter w(&bytes);
  for (int i = 0; i < 100; ++i) w.BeginArray();
  for (int i = 0; i < 100; ++i) w.EndArray();
  BinaryValue v;
  size_t n;
  EXPECT_FALSE(BinaryValue::Parse(bytes, &v, &n));
  // Bytes only shallowly checked still never recurse past the limit: deeper levels print null.
  ASSERT_TRUE(BinaryValue::ParseShallow(bytes, &v, &n));
  EXPECT_EQ(n, bytes.size());
  std::string json;
  JsonWriter jw(&json);
  v.ToJson(&jw);
  EXPECT_EQ(json, std::string(65, '[') + "null" + std::string(65, ']'));
}

TEST(BinaryValueTest, ParseShallowChecksSizesNotMembers) {
  std::string bytes = Encode([](BinaryValueWriter& w) {
    w.BeginObject();
    w.Key("k");
    w.String("hello");
    w.EndObject();
  });
  const size_t whole = bytes.size();
  bytes += "tail";
  BinaryValue v;
  size_t n;
  ASSERT_TRUE(BinaryValue::ParseShallow(bytes, &v, &n));
  EXPECT_EQ(n, whole);
  EXPECT_EQ(v.Get("k").AsString(), "hello");
  // A member's damage passes the shallow check, not the full one; accessors stay in bounds.
  std::string damaged = bytes.substr(0, whole);
  damaged[damaged.size() - 6] = 100;  // the string's length: past the object's end
  ASSERT_TRUE(BinaryValue::ParseShallow(damaged, &v, &n));
  EXPECT_FALSE(v.Get("k").present() && v.Get("k").AsString() == "hello");
  EXPECT_FALSE(BinaryValue::Parse(damaged, &v, &n));
  // A container larger than the bytes fails either way.
  for (size_t len = 0; len < whole; ++len) {
    EXPECT_FALSE(BinaryValue::ParseShallow(std::string_view(bytes).substr(0, len), &v, &n)) << len;
  }
}

}  // namespace
}  // namespace vigil
