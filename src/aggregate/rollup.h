// Rollups: what the speed and batch layers compute and the serving layer reads.
//
// A rollup cell holds one metric of one app for one dimension combination and one time bucket:
//
//   key   (app, metric, subject, version, os, granularity, bucket start)
//   cell  count, errors, bytes, first/last occurred time, unique users (HyperLogLog),
//         latency or duration (LatencySketch) — each metric uses the parts it needs (metrics.h)
//
// `subject` is the metric's own dimension: the endpoint of `endpoint`, the group id of
// `crash_group`, "name\x1foutcome" of `flow`, the name of `custom`; empty for app-wide metrics.
// `version` and `os` are the app version and device OS; kAll ("") in a cell that counts every
// value, so a query with or without either filter reads exactly one cell per bucket (each event
// is added to the four combinations). Events without a version or OS count under kUnknown.
//
// Cells merge (counts add, sketches union, first/last widen), which is what makes the same code
// serve a streaming layer (merge each micro-batch in) and a batch layer (merge hours into days).
// Encoded keys sort by (app, metric, subject, version, os, granularity, bucket), so one
// dimension combination's series is one contiguous range. Encoded cells: magic 'C', version 1,
// flags (1 users, 2 latency), varints count, errors, bytes, zigzag first and last, then the
// length-prefixed sketches present.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "aggregate/hyperloglog.h"
#include "aggregate/latency_sketch.h"
#include "common/status.h"
#include "common/time_bucket.h"

namespace vigil::aggregate {

inline constexpr std::string_view kAll = "";
inline constexpr std::string_view kUnknown = "unknown";

struct RollupKey {
  std::string app;
  std::string metric;
  std::string subject;
  std::string version;  // kAll for every version
  std::string os;       // kAll for every OS
  Granularity granularity = Granularity::kHour;
  int64_t bucket_ms = 0;

  bool operator==(const RollupKey&) const = default;
};

// Order-preserving encoding: length-prefixed strings, granularity byte, big-endian bucket
// (offset so that negative times sort first).
std::string EncodeRollupKey(const RollupKey& key);
// The prefix every key of one series shares (all but the bucket): scan [prefix+from, prefix+to).
std::string EncodeSeriesPrefix(const RollupKey& key);
std::string EncodeBucket(int64_t bucket_ms);
Status DecodeRollupKey(std::string_view bytes, RollupKey* key);

struct RollupCell {
  uint64_t count = 0;
  uint64_t errors = 0;
  uint64_t bytes = 0;
  int64_t first_ms = std::numeric_limits<int64_t>::max();
  int64_t last_ms = std::numeric_limits<int64_t>::min();
  HyperLogLog users;
  LatencySketch latency;

  // With `exact_users`, an exact users sketch's hashes are appended to it instead of merged (see
  // HyperLogLog::AppendExactHashes): the caller adds them with users.AddHashes at the end.
  void Merge(const RollupCell& other, std::vector<uint64_t>* exact_users = nullptr);
  void AppendTo(std::string* out) const;
  // What AppendTo writes, with the users sketch as its fingerprint
  // (HyperLogLog::AppendFingerprintTo): equal exactly when the serialized forms are (but for
  // ~2^-128 odds), at a fraction of the cost.
  void AppendFingerprintTo(std::string* out) const;
  std::string Serialize() const {
    std::string s;
    AppendTo(&s);
    return s;
  }
  // With counters_only, the sketches are skipped (left empty): for answers that need counts
  // only, a fraction of the cost.
  static Status Decode(std::string_view bytes, RollupCell* out, bool counters_only = false);
};

}  // namespace vigil::aggregate
