// JsonWriter: appends compact JSON to a string, escaping as RFC 8259 requires.
//
// Used for every answer the server sends and every line the CLI prints. It tracks only whether a
// comma is due; callers are responsible for balanced Begin/End calls (a bug otherwise, not input).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil {

// Appends `s` as a quoted JSON string. Bytes that are not valid UTF-8 become U+FFFD.
void AppendJsonString(std::string* out, std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& Uint(uint64_t v);
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // Appends already-serialized JSON as one value.
  JsonWriter& Raw(std::string_view json);

 private:
  void BeforeValue();
  void Open();
  void Close();

  std::string* out_;
  // Whether each open container needs a comma before its next value: bit i of comma_bits_ for
  // level i + 1 of the first kBitLevels, deeper ones in deep_. A vector<bool> here was an
  // allocation per writer, and the collector renders an answer per request.
  static constexpr size_t kBitLevels = 64;
  size_t depth_ = 0;
  uint64_t comma_bits_ = 0;
  std::vector<bool> deep_;
  bool after_key_ = false;
};

}  // namespace vigil
