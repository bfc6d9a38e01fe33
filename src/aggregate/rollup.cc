// Rollup key and cell encodings, and cell merging. See rollup.h.
#include "aggregate/rollup.h"

#include <algorithm>

#include "common/coding.h"

namespace vigil::aggregate {

namespace {

constexpr char kCellMagic = 'C';
constexpr uint8_t kCellVersion = 1;
constexpr uint8_t kHasUsers = 1;
constexpr uint8_t kHasLatency = 2;
constexpr size_t kMaxKeyPart = 4096;

void PutBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

}  // namespace

std::string EncodeBucket(int64_t bucket_ms) {
  std::string out;
  PutBigEndian64(&out, static_cast<uint64_t>(bucket_ms) ^ (uint64_t{1} << 63));
  return out;
}

std::string EncodeSeriesPrefix(const RollupKey& key) {
  std::string out;
  PutLengthPrefixed(&out, key.app);
  PutLengthPrefixed(&out, key.metric);
  PutLengthPrefixed(&out, key.subject);
  PutLengthPrefixed(&out, key.version);
  PutLengthPrefixed(&out, key.os);
  out.push_back(static_cast<char>(key.granularity));
  return out;
}

std::string EncodeRollupKey(const RollupKey& key) {
  std::string out = EncodeSeriesPrefix(key);
  out += EncodeBucket(key.bucket_ms);
  return out;
}

Status DecodeRollupKey(std::string_view bytes, RollupKey* key) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  std::string_view parts[5];
  for (std::string_view& part : parts) {
    if (!GetLengthPrefixed(p, end, &part) || part.size() > kMaxKeyPart) {
      return Status::Corruption("rollup key: truncated");
    }
  }
  if (end - p != 9) return Status::Corruption("rollup key: bad length");
  auto g = static_cast<Granularity>(*p++);
  if (g != Granularity::kMinute && g != Granularity::kHour && g != Granularity::kDay) {
    return Status::Corruption("rollup key: unknown granularity");
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(p[i]);
  key->app.assign(parts[0]);
  key->metric.assign(parts[1]);
  key->subject.assign(parts[2]);
  key->version.assign(parts[3]);
  key->os.assign(parts[4]);
  key->granularity = g;
  key->bucket_ms = static_cast<int64_t>(v ^ (uint64_t{1} << 63));
  return Status::Ok();
}

void RollupCell::Merge(const RollupCell& other, std::vector<uint64_t>* exact_users) {
  count += other.count;
  errors += other.errors;
  bytes += other.bytes;
  first_ms = std::min(first_ms, other.first_ms);
  last_ms = std::max(last_ms, other.last_ms);
  if (exact_users == nullptr || !other.users.AppendExactHashes(exact_users)) {
    users.Merge(other.users);
  }
  latency.Merge(other.latency);
}

namespace {
// The head and counters AppendTo and AppendFingerprintTo share; returns the sketch flags.
uint8_t AppendHead(const RollupCell& c, std::string* out) {
  out->push_back(kCellMagic);
  out->push_back(static_cast<char>(kCellVersion));
  const uint8_t flags =
      (c.users.empty() ? 0 : kHasUsers) | (c.latency.count() == 0 ? 0 : kHasLatency);
  out->push_back(static_cast<char>(flags));
  PutVarint64(out, c.count);
  PutVarint64(out, c.errors);
  PutVarint64(out, c.bytes);
  PutVarsint64(out, c.first_ms);
  PutVarsint64(out, c.last_ms);
  return flags;
}
}  // namespace

void RollupCell::AppendTo(std::string* out) const {
  const uint8_t flags = AppendHead(*this, out);
  if (flags & kHasUsers) PutLengthPrefixed(out, users.Serialize());
  if (flags & kHasLatency) PutLengthPrefixed(out, latency.Serialize());
}

void RollupCell::AppendFingerprintTo(std::string* out) const {
  const uint8_t flags = AppendHead(*this, out);
  if (flags & kHasUsers) users.AppendFingerprintTo(out);
  if (flags & kHasLatency) latency.AppendTo(out);
}

Status RollupCell::Decode(std::string_view bytes, RollupCell* out, bool counters_only) {
  auto corrupt = [](const char* what) {
    return Status::Corruption(std::string("rollup cell: ") + what);
  };
  if (bytes.size() < 3 || bytes[0] != kCellMagic) return corrupt("bad magic");
  if (static_cast<uint8_t>(bytes[1]) != kCellVersion) return corrupt("unknown version");
  uint8_t flags = static_cast<uint8_t>(bytes[2]);
  if (flags & ~(kHasUsers | kHasLatency)) return corrupt("unknown flags");
  const char* p = bytes.data() + 3;
  const char* end = bytes.data() + bytes.size();
  RollupCell c;
  if (!GetVarint64(p, end, &c.count) || !GetVarint64(p, end, &c.errors) ||
      !GetVarint64(p, end, &c.bytes) || !GetVarsint64(p, end, &c.first_ms) ||
      !GetVarsint64(p, end, &c.last_ms)) {
    return corrupt("truncated counters");
  }
  if (flags & kHasUsers) {
    std::string_view s;
    if (!GetLengthPrefixed(p, end, &s)) return corrupt("truncated users");
    if (!counters_only) VIGIL_RETURN_IF_ERROR(HyperLogLog::Decode(s, &c.users));
  }
  if (flags & kHasLatency) {
    std::string_view s;
    if (!GetLengthPrefixed(p, end, &s)) return corrupt("truncated latency");
    if (!counters_only) VIGIL_RETURN_IF_ERROR(LatencySketch::Decode(s, &c.latency));
  }
  if (p != end) return corrupt("trailing bytes");
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace vigil::aggregate
