// Aggregator: events → rollup cells. The one piece of code the speed layer (over the processed
// log, in micro-batches) and the batch layer (over deduplicated archive days) both run.
//
// Metrics (docs/aggregation.md; the serving API derives crash-free users, MAU and error rates):
//   users               every event: count = events, users = distinct users (user.id, else
//                       device.id) — day buckets give DAU, the union of 30 days MAU
//   app_loads           session_start: count
//   crashes             crash: count, users = crashed users (crash-free users = 1 − crashed/users)
//   handled_exceptions  handled_exception: count, users
//   crash_group         crash, subject = group id: count, users, first/last occurred time;
//                       errors = crashes that later moved to another group (AddRegroupedCrash:
//                       speed only; a group's crashes are count − errors)
//   handled_group       handled_exception, subject = group id: likewise
//   network_requests    network: count, errors (status ≥ 400 or failed), bytes, latency
//   endpoint            network, subject = "METHOD endpoint-template": likewise
//   user_flows          user_flow: count, errors (outcome ≠ success), latency = duration
//   flow                user_flow, subject = "name\x1foutcome": count, users, latency
//   custom_events       custom: count
//   custom              custom, subject = name: count, users
//
// Add() accumulates the finest cells only: (version, os) and the base granularity, keyed by
// interned ids (StringInterner) in an open-addressing table, so per-event work is a few integer
// hash probes and one user hash shared by every cell the event touches. Emit() expands them into
// the four version/os combinations (kAll for "any") and each requested granularity by merging.
// network_requests is the sum of its bucket's endpoint cells, so it is not kept fine: Emit
// derives it, and a network call updates one cell, not two.
// Emitted cells are deltas of what was added since construction (or the last Clear): merge them
// into a layer's state; counts add, so the same events must not be emitted into the same state
// twice (the batch layer deduplicates by event id before adding).
//
// Subjects are capped per (app, metric) at kMaxSubjects per aggregator; later ones count under
// kOtherSubject so a client that sends unbounded endpoint or event names cannot exhaust memory.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aggregate/event_facts.h"
#include "aggregate/rollup.h"
#include "aggregate/string_interner.h"
#include "common/batch_record.h"

namespace vigil::aggregate {

namespace metric {
inline constexpr std::string_view kUsers = "users";
inline constexpr std::string_view kAppLoads = "app_loads";
inline constexpr std::string_view kCrashes = "crashes";
inline constexpr std::string_view kHandledExceptions = "handled_exceptions";
inline constexpr std::string_view kCrashGroup = "crash_group";
inline constexpr std::string_view kHandledGroup = "handled_group";
inline constexpr std::string_view kNetworkRequests = "network_requests";
inline constexpr std::string_view kEndpoint = "endpoint";
inline constexpr std::string_view kUserFlows = "user_flows";
inline constexpr std::string_view kFlow = "flow";
inline constexpr std::string_view kCustomEvents = "custom_events";
inline constexpr std::string_view kCustom = "custom";
}  // namespace metric

inline constexpr size_t kMaxSubjects = 2000;
inline constexpr std::string_view kOtherSubject = "(other)";
inline constexpr char kFlowSeparator = '\x1f';

// Who and what an event is about, from its batch's context.
struct EventContext {
  std::string_view version = kUnknown;
  std::string_view os = kUnknown;
  std::string_view user;  // empty: anonymous (not counted in unique users)
};

EventContext ContextOf(const BatchHeader& header);

// The crash group of a crash or handled-exception event: processed.group_id when processing has
// run, else a fallback from the error type and its top frames ("raw-" + 16 hex digits).
std::string CrashGroupOf(const EventView& event);

struct RollupHash {
  size_t operator()(const RollupKey& k) const;
};
using RollupMap = std::unordered_map<RollupKey, RollupCell, RollupHash>;

class Aggregator {
 public:
  // `base` is the finest granularity kept (minute for speed, hour for batch).
  explicit Aggregator(Granularity base);

  void AddBatch(std::string_view app, const BatchRecord& batch);
  // FactsOf(event), then AddFact.
  void AddEvent(std::string_view app, const EventContext& context, const EventView& event);

  // One event as interned ids and its facts: the path of callers that see the same strings over
  // and over (the batch layer interns each distinct version, OS and subject of a part once, not
  // once per row). AddFact of an event built this way counts exactly what AddEvent counts.
  struct Fact {
    int64_t ts_ms = 0;
    EventType type = EventType::kCustom;
    uint32_t app = 0, version = 0, os = 0;  // Intern(); an unknown version or OS is kUnknown
    bool has_user = false;
    uint64_t user_hash = 0;  // HyperLogLog::Hash(user)
    uint32_t subject = 0;    // Subject(app, type, facts.subject)
    bool error = false;
    uint64_t bytes = 0;
    bool has_latency = false;
    double latency = 0;
  };
  uint32_t Intern(std::string_view s) { return strings_.Intern(s); }
  // What every event of a batch shares (app, version and OS interned, the user's hash), for
  // AddEvent of each of its events: those lookups once per batch, not once per event.
  Fact BatchFact(std::string_view app, const EventContext& context);
  // The same as AddEvent(app, context, event), with `batch` = BatchFact(app, context).
  void AddEvent(const Fact& batch, const EventView& event);
  // The id under which an event of `type` with this subject is counted: the subject's own id,
  // kOtherSubject's once the (app, metric) cap is reached, 0 for none. For a given aggregator,
  // (app, type, subject) always gets the same id until Clear(), so callers may cache it.
  uint32_t Subject(uint32_t app, EventType type, std::string_view subject);
  void AddFact(const Fact& fact);

  // The fine cells of one base bucket of one app, found by small dense codes the caller gives
  // each fact (a part's dictionary codes) instead of by hashing the cell's key: the batch
  // layer's path, where every row of a part falls in one hour. Add() counts exactly what
  // AddFact() counts; a fact of another app or bucket simply goes through AddFact().
  // Every event's user goes to its context's users cell: those hashes are gathered per context
  // and added to the cell's sketch context by context when the object is destroyed, so each
  // sketch is in the CPU's cache while it takes its users (added row by row, the sketches of
  // all contexts competed for it with the part's columns, and an add waited on memory). A
  // sketch's content does not depend on the order of its adds.
  // Holds pointers into the aggregator: destroy it before the aggregator's next Clear() or
  // Emit(); the counts are whole only once it is destroyed.
  class BucketCells {
   public:
    // Add() takes context codes below `contexts` and subject codes below `subject_codes`.
    BucketCells(Aggregator* agg, uint32_t app, int64_t bucket_ms, size_t contexts,
                size_t subject_codes);
    ~BucketCells();
    BucketCells(const BucketCells&) = delete;
    BucketCells& operator=(const BucketCells&) = delete;
    // `context` must always stand for the same (f.version, f.os), and `subject_code` for the
    // same (f.type, f.subject), for the life of this object.
    void Add(const Fact& f, uint32_t context, uint32_t subject_code);

   private:
    // Past this many (context, subject code) pairs, subject cells are found by hashing.
    static constexpr size_t kMaxSubjectSlots = size_t{1} << 18;
    Aggregator* agg_;
    uint32_t app_;
    int64_t bucket_ms_, bucket_end_ms_;
    size_t subject_codes_;
    std::vector<RollupCell*> totals_;    // [context][MetricId], the subject-0 cells
    std::vector<RollupCell*> subjects_;  // [context][subject code]; empty past kMaxSubjectSlots
    std::vector<std::vector<uint64_t>> users_;  // [context]: user hashes for its users cell
  };
  // A crash or handled exception processed again that moved from `previous_group` (a sentinel
  // group it was already added to) to its group now: counted once more in its new group and as
  // moved out (errors) of the previous one. App-wide metrics are untouched: it was counted.
  void AddRegroupedCrash(std::string_view app, const EventContext& context, const EventView& event,
                         std::string_view previous_group);

  // Every cell at each of `granularities` (each at least as coarse as the base) for all four
  // version/os combinations, merged into `out`.
  void Emit(const std::vector<Granularity>& granularities, RollupMap* out) const;

  size_t fine_cells() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  void Clear();

 private:
  // Index into kMetricNames (aggregator.cc).
  enum MetricId : uint32_t {
    kUsersMetric,
    kAppLoadsMetric,
    kCrashesMetric,
    kHandledExceptionsMetric,
    kCrashGroupMetric,
    kHandledGroupMetric,
    kNetworkRequestsMetric,
    kEndpointMetric,
    kUserFlowsMetric,
    kFlowMetric,
    kCustomEventsMetric,
    kCustomMetric,
    kMetricCount,
  };
  struct FineKey {
    int64_t bucket_ms = 0;
    uint32_t app = 0, metric = 0, subject = 0, version = 0, os = 0;  // interned, metric: MetricId
    bool operator==(const FineKey&) const = default;
  } __attribute__((packed));
  // An event's time, type and context as ids (its facts left for the caller to fill in).
  Fact ContextFact(std::string_view app, const EventContext& context, const EventView& event);
  // The fine cell of the fact's bucket, app, version and OS for `metric` and a subject id.
  RollupCell& Cell(const Fact& fact, int64_t bucket_ms, MetricId metric, uint32_t subject);
  RollupCell& CellOf(const FineKey& key);  // found or inserted, without the cap
  // What AddFact counts, in the cells `cell(MetricId, subject id)` finds (RollupCell&).
  // Counts `f` into the cells cell(metric, subject) gives; a user is added to cell c of
  // `metric` by add_user(metric, c).
  template <typename CellFn, typename AddUserFn>
  static void Count(const Fact& f, CellFn&& cell, AddUserFn&& add_user);
  // The id of `subject` in (app, metric), or of kOtherSubject once kMaxSubjects others are in.
  uint32_t CapSubject(uint32_t app, MetricId metric, std::string_view subject);
  static uint64_t HashOf(const FineKey& key);
  void Grow();

  Granularity base_;
  StringInterner strings_;  // id 0 is kAll (""), interned by the constructor and Clear()
  std::vector<FineKey> keys_;
  std::deque<RollupCell> cells_;  // cells_[i] belongs to keys_[i]; a deque keeps references
  // Open addressing. A slot holds its key too, so a probe reads one cache line, not the slot
  // and then keys_; cell is the index + 1 into keys_ and cells_, 0 for an empty slot.
  struct Slot {
    FineKey key;
    uint32_t cell = 0;
  };
  std::vector<Slot> slots_;
  std::unordered_set<uint64_t> admitted_subjects_;       // (app, metric, subject) ids under the cap
  std::unordered_map<uint64_t, size_t> subject_counts_;  // per (app, metric)
  EventFacts facts_;  // scratch: the facts of the event AddEvent is adding
};

}  // namespace vigil::aggregate
