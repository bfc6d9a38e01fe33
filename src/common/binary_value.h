// Binary values: a compact, self-describing binary encoding of JSON values.
//
// The log stores validated events in this form rather than as JSON text: numbers are varints,
// strings carry their length, and every container carries its element count and byte size so a
// reader can skip it without parsing. Field order and unknown fields are kept, so an event read
// back as JSON says exactly what the SDK sent. Layout (all integers little-endian):
//
//   value  := tag payload
//   0 null | 1 false | 2 true
//   3 int     zigzag varint (int64)
//   4 uint    varint (uint64 above INT64_MAX)
//   5 double  8 bytes IEEE-754
//   6 string  varint length, UTF-8 bytes
//   7 array   u32 count, u32 byte size of the items, items
//   8 object  u32 count, u32 byte size of the members, (varint key length, key, value)*
//
// BinaryValueWriter appends; BinaryValue is a non-owning view whose accessors are bounds-checked
// and safe on corrupt bytes (they report "not that type"/"absent" rather than read out of bounds).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_writer.h"

namespace vigil {

enum class ValueTag : uint8_t {
  kNull = 0,
  kFalse = 1,
  kTrue = 2,
  kInt = 3,
  kUint = 4,
  kDouble = 5,
  kString = 6,
  kArray = 7,
  kObject = 8,
};

// Appends values to a caller-owned string. Containers are opened and closed explicitly; the
// writer patches their count and byte size on close.
class BinaryValueWriter {
 public:
  explicit BinaryValueWriter(std::string* out) : out_(out) {}

  void Null();
  void Bool(bool v);
  void Int(int64_t v);
  void Uint(uint64_t v);
  void Double(double v);
  void String(std::string_view s);
  // Appends an already-encoded value (one whole value, e.g. a BinaryValue's bytes()).
  void Encoded(std::string_view value);
  // Object members are written as Key() then one value.
  void Key(std::string_view key);
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();

 private:
  struct Open {
    size_t header_pos;
    uint32_t count;
  };
  void CountValue();
  void Push(Open o);
  Open Pop();
  Open& Top() { return depth_ <= kInlineDepth ? inline_open_[depth_ - 1] : deep_open_.back(); }

  // The open containers: the first kInlineDepth in the object itself, deeper ones in deep_open_.
  // A writer is made per event by the collector, and a vector here was an allocation each time.
  static constexpr size_t kInlineDepth = 8;
  std::string* out_;
  size_t depth_ = 0;
  Open inline_open_[kInlineDepth];
  std::vector<Open> deep_open_;
  bool after_key_ = false;
};

// A view of one encoded value. Default-constructed views are "absent".
class BinaryValue {
 public:
  BinaryValue() = default;
  // `bytes` must hold exactly one well-formed value (written by BinaryValueWriter, or checked
  // with Parse); accessors stay within `bytes` even if it is not.
  explicit BinaryValue(std::string_view bytes) : bytes_(bytes) {}

  // Checks that `bytes` start with one well-formed value (recursively, up to a nesting depth of
  // 64) and returns a view of exactly it; *consumed gets its size. False on malformed bytes.
  static bool Parse(std::string_view bytes, BinaryValue* value, size_t* consumed);
  // The same, checking only the first value's tag and size (a container's count and byte size,
  // not its members): for bytes already checked by Parse when they entered.
  static bool ParseShallow(std::string_view bytes, BinaryValue* value, size_t* consumed);

  bool present() const { return !bytes_.empty(); }
  ValueTag tag() const { return static_cast<ValueTag>(bytes_[0]); }
  bool is_string() const { return present() && tag() == ValueTag::kString; }
  bool is_object() const { return present() && tag() == ValueTag::kObject; }
  bool is_array() const { return present() && tag() == ValueTag::kArray; }
  bool is_number() const;
  bool is_integer() const { return present() && tag() == ValueTag::kInt; }
  bool is_true() const { return present() && tag() == ValueTag::kTrue; }

  std::string_view AsString() const;  // "" unless a string
  int64_t AsInt() const;              // 0 unless an int
  double AsDouble() const;            // any number as double, else 0
  uint32_t Count() const;             // elements or members of a container, else 0

  // Object member by key (the first, if repeated); absent if missing or not an object.
  BinaryValue Get(std::string_view key) const;

  // Several members in one pass over the object: each (key, out) pair gets Get(key) — the first
  // member with that key, absent if none. Cheaper than one Get per key on wide objects.
  void GetAll(std::initializer_list<std::pair<std::string_view, BinaryValue*>> wanted) const;

  // Iterates members (key, value) of an object or elements (key empty) of an array.
  template <typename F>
  void ForEach(F&& f) const {
    if (!is_object() && !is_array()) return;
    bool object = is_object();
    const char* p = bytes_.data() + 9;
    const char* end = bytes_.data() + bytes_.size();
    for (uint32_t i = 0; i < Count() && p < end; ++i) {
      std::string_view key;
      if (object && !ReadKey(&p, end, &key)) return;
      const char* start = p;
      if (!SkipShallow(&p, end)) return;
      f(key, BinaryValue(std::string_view(start, p - start)));
    }
  }

  std::string_view bytes() const { return bytes_; }
  // Appends the value as JSON.
  void ToJson(JsonWriter* w) const;

 private:
  static bool ReadKey(const char** p, const char* end, std::string_view* key);
  void ToJson(JsonWriter* w, int depth) const;
  // Advances past one value, jumping over containers by their byte size (bounds-checked, not
  // recursive): the bytes were checked by Parse when they entered, or written by this process.
  static bool SkipShallow(const char** p, const char* end);
  std::string_view bytes_;
};

}  // namespace vigil
