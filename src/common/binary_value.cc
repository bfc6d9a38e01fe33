// Encoding, validation and JSON rendering of binary values.
#include "common/binary_value.h"

#include <cstring>

#include "common/coding.h"
#include "common/status.h"

namespace vigil {

void BinaryValueWriter::CountValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ > 0) ++Top().count;
}

void BinaryValueWriter::Push(Open o) {
  if (depth_ < kInlineDepth) {
    inline_open_[depth_] = o;
  } else {
    deep_open_.push_back(o);
  }
  ++depth_;
}

BinaryValueWriter::Open BinaryValueWriter::Pop() {
  VIGIL_CHECK(depth_ > 0);
  Open o = Top();
  if (depth_ > kInlineDepth) deep_open_.pop_back();
  --depth_;
  return o;
}

void BinaryValueWriter::Null() {
  CountValue();
  out_->push_back(static_cast<char>(ValueTag::kNull));
}
void BinaryValueWriter::Bool(bool v) {
  CountValue();
  out_->push_back(static_cast<char>(v ? ValueTag::kTrue : ValueTag::kFalse));
}
void BinaryValueWriter::Int(int64_t v) {
  CountValue();
  out_->push_back(static_cast<char>(ValueTag::kInt));
  PutVarsint64(out_, v);
}
void BinaryValueWriter::Uint(uint64_t v) {
  if (v <= static_cast<uint64_t>(INT64_MAX)) {
    Int(static_cast<int64_t>(v));
    return;
  }
  CountValue();
  out_->push_back(static_cast<char>(ValueTag::kUint));
  PutVarint64(out_, v);
}
void BinaryValueWriter::Double(double v) {
  CountValue();
  out_->push_back(static_cast<char>(ValueTag::kDouble));
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  PutFixed64(out_, bits);
}
void BinaryValueWriter::Encoded(std::string_view value) {
  CountValue();
  out_->append(value);
}
void BinaryValueWriter::String(std::string_view s) {
  CountValue();
  out_->push_back(static_cast<char>(ValueTag::kString));
  PutLengthPrefixed(out_, s);
}
void BinaryValueWriter::Key(std::string_view key) {
  VIGIL_CHECK(depth_ > 0);
  ++Top().count;
  PutLengthPrefixed(out_, key);
  after_key_ = true;
}
void BinaryValueWriter::BeginObject() {
  CountValue();
  Push({out_->size(), 0});
  out_->push_back(static_cast<char>(ValueTag::kObject));
  out_->append(8, '\0');
}
void BinaryValueWriter::BeginArray() {
  CountValue();
  Push({out_->size(), 0});
  out_->push_back(static_cast<char>(ValueTag::kArray));
  out_->append(8, '\0');
}
void BinaryValueWriter::EndObject() {
  Open o = Pop();
  uint32_t size = static_cast<uint32_t>(out_->size() - o.header_pos - 9);
  std::memcpy(out_->data() + o.header_pos + 1, &o.count, 4);
  std::memcpy(out_->data() + o.header_pos + 5, &size, 4);
}
void BinaryValueWriter::EndArray() { EndObject(); }

namespace {
constexpr int kMaxDepth = 64;

bool SkipValue(const char*& p, const char* end, int depth) {
  if (p >= end || depth > kMaxDepth) return false;
  auto tag = static_cast<ValueTag>(*p++);
  switch (tag) {
    case ValueTag::kNull:
    case ValueTag::kFalse:
    case ValueTag::kTrue:
      return true;
    case ValueTag::kInt:
    case ValueTag::kUint: {
      uint64_t v;
      return GetVarint64(p, end, &v);
    }
    case ValueTag::kDouble:
      if (end - p < 8) return false;
      p += 8;
      return true;
    case ValueTag::kString: {
      std::string_view s;
      return GetLengthPrefixed(p, end, &s);
    }
    case ValueTag::kArray:
    case ValueTag::kObject: {
      uint32_t count, size;
      if (!GetFixed32(p, end, &count) || !GetFixed32(p, end, &size)) return false;
      if (size > static_cast<uint64_t>(end - p)) return false;
      const char* inner_end = p + size;
      for (uint32_t i = 0; i < count; ++i) {
        if (tag == ValueTag::kObject) {
          std::string_view key;
          if (!GetLengthPrefixed(p, inner_end, &key)) return false;
        }
        if (!SkipValue(p, inner_end, depth + 1)) return false;
      }
      if (p != inner_end) return false;
      return true;
    }
  }
  return false;
}
}  // namespace

bool BinaryValue::Parse(std::string_view bytes, BinaryValue* value, size_t* consumed) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  if (!SkipValue(p, end, 0)) return false;
  *consumed = p - bytes.data();
  *value = BinaryValue(bytes.substr(0, *consumed));
  return true;
}

bool BinaryValue::ParseShallow(std::string_view bytes, BinaryValue* value, size_t* consumed) {
  const char* p = bytes.data();
  if (!SkipShallow(&p, p + bytes.size())) return false;
  *consumed = p - bytes.data();
  *value = BinaryValue(bytes.substr(0, *consumed));
  return true;
}

bool BinaryValue::SkipShallow(const char** pp, const char* end) {
  const char*& p = *pp;
  if (p >= end) return false;
  auto tag = static_cast<ValueTag>(*p);
  if (tag != ValueTag::kArray && tag != ValueTag::kObject) return SkipValue(p, end, 0);
  ++p;
  uint32_t count, size;
  if (!GetFixed32(p, end, &count) || !GetFixed32(p, end, &size)) return false;
  if (size > static_cast<uint64_t>(end - p)) return false;
  p += size;
  return true;
}

bool BinaryValue::ReadKey(const char** p, const char* end, std::string_view* key) {
  return GetLengthPrefixed(*p, end, key);
}

bool BinaryValue::is_number() const {
  if (!present()) return false;
  ValueTag t = tag();
  return t == ValueTag::kInt || t == ValueTag::kUint || t == ValueTag::kDouble;
}

std::string_view BinaryValue::AsString() const {
  if (!is_string()) return {};
  const char* p = bytes_.data() + 1;
  std::string_view s;
  if (!GetLengthPrefixed(p, bytes_.data() + bytes_.size(), &s)) return {};
  return s;
}

int64_t BinaryValue::AsInt() const {
  if (!is_integer()) return 0;
  const char* p = bytes_.data() + 1;
  int64_t v = 0;
  if (!GetVarsint64(p, bytes_.data() + bytes_.size(), &v)) return 0;
  return v;
}

double BinaryValue::AsDouble() const {
  if (!present()) return 0;
  const char* p = bytes_.data() + 1;
  const char* end = bytes_.data() + bytes_.size();
  switch (tag()) {
    case ValueTag::kInt:
      return static_cast<double>(AsInt());
    case ValueTag::kUint: {
      uint64_t v = 0;
      GetVarint64(p, end, &v);
      return static_cast<double>(v);
    }
    case ValueTag::kDouble: {
      if (end - p < 8) return 0;
      uint64_t bits = DecodeFixed64(p);
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    default:
      return 0;
  }
}

uint32_t BinaryValue::Count() const {
  if ((!is_object() && !is_array()) || bytes_.size() < 9) return 0;
  return DecodeFixed32(bytes_.data() + 1);
}

BinaryValue BinaryValue::Get(std::string_view key) const {
  BinaryValue v;
  GetAll({{key, &v}});
  return v;
}

void BinaryValue::GetAll(
    std::initializer_list<std::pair<std::string_view, BinaryValue*>> wanted) const {
  for (const auto& [key, out] : wanted) *out = BinaryValue();
  if (!is_object() || bytes_.size() < 9) return;
  size_t missing = wanted.size();
  const char* p = bytes_.data() + 9;
  const char* end = bytes_.data() + bytes_.size();
  for (uint32_t i = 0, n = Count(); i < n && p < end && missing > 0; ++i) {
    std::string_view k;
    if (!ReadKey(&p, end, &k)) return;
    const char* start = p;
    if (!SkipShallow(&p, end)) return;
    for (const auto& [key, out] : wanted) {
      if (key == k && !out->present()) {  // the first member with that key
        *out = BinaryValue(std::string_view(start, p - start));
        --missing;
        break;
      }
    }
  }
}

void BinaryValue::ToJson(JsonWriter* w) const { ToJson(w, 0); }

void BinaryValue::ToJson(JsonWriter* w, int depth) const {
  // Deeper than Parse allows: only bytes never checked by Parse nest so deep (see kShallow).
  if (!present() || depth > kMaxDepth) {
    w->Null();
    return;
  }
  switch (tag()) {
    case ValueTag::kNull:
      w->Null();
      return;
    case ValueTag::kFalse:
      w->Bool(false);
      return;
    case ValueTag::kTrue:
      w->Bool(true);
      return;
    case ValueTag::kInt:
      w->Int(AsInt());
      return;
    case ValueTag::kUint: {
      const char* p = bytes_.data() + 1;
      uint64_t v = 0;
      GetVarint64(p, bytes_.data() + bytes_.size(), &v);
      w->Uint(v);
      return;
    }
    case ValueTag::kDouble:
      w->Double(AsDouble());
      return;
    case ValueTag::kString:
      w->String(AsString());
      return;
    case ValueTag::kArray:
      w->BeginArray();
      ForEach([&](std::string_view, const BinaryValue& v) { v.ToJson(w, depth + 1); });
      w->EndArray();
      return;
    case ValueTag::kObject:
      w->BeginObject();
      ForEach([&](std::string_view k, const BinaryValue& v) {
        w->Key(k);
        v.ToJson(w, depth + 1);
      });
      w->EndObject();
      return;
  }
  w->Null();
}

}  // namespace vigil
