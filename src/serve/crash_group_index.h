// CrashGroupIndex: the crash groups of every app, built from the processed log — what the
// crash-group API answers and what tells the processing stage which crashes wait for symbols.
//
// It consumes the processed log (consumer "groups") directly, skipping its references to raw
// records (log/resolving_log.h: those records have no crashes), and keeps, per app, each group's
// title, culprit, exception type, crash and handled-exception counts, counts per app version, first
// and last occurred time, the latest sample event, and — for sentinel groups — which symbol files
// its crashes miss. It also remembers every crash currently in a sentinel group (event id, raw
// offset, missing ids), so that:
//   - a record marked reprocessed moves those crashes from the sentinel group to their new
//     group (the latest processed record of an event wins; a reprocessed record for a crash
//     that is no longer in a sentinel group is ignored, which makes reprocessing idempotent);
//   - when a symbol file arrives, the crashes that miss it are handed to the processing stage
//     (ReprocessAvailable), and so are new sentinel crashes whose symbols are already there.
//
// State is saved to one snapshot file, together with the processed-log offsets it reflects
// (written atomically every snapshot_interval_ms when changed, and at Stop); on start it loads
// the snapshot and resumes from those offsets, so counts survive restarts without double
// counting. The samples the groups keep (in the sample store, SetSampleStore) are written, synced,
// just before each snapshot: one written per sample kept, however many crashes came and went.
// Counts are of processed records: an event the SDK delivered twice counts twice here (exact,
// deduplicated counts are the batch layer's job).
//
// Threads: one worker (Start/Stop); the query methods are safe from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/batch_record.h"
#include "common/clock.h"
#include "common/status.h"
#include "log/log_store.h"
#include "process/processing_stage.h"
#include "serve/aggregate_store.h"

namespace vigil::serve {

struct CrashGroup {
  std::string id;
  std::string title;
  std::string culprit;
  std::string type;  // exception type
  bool sentinel = false;
  uint64_t crashes = 0;  // crash events
  uint64_t handled = 0;  // handled_exception events
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  struct Counts {
    uint64_t crashes = 0;
    uint64_t handled = 0;
  };
  std::map<std::string, Counts> versions;   // app version -> events of it
  std::map<std::string, uint64_t> missing;  // missing symbol file -> events naming it
  std::string sample;  // JSON of the latest event (see docs/protocol.md); "" when it moved out
  int64_t sample_ts = 0;
  std::string sample_event_id;
  bool symbolicated = false;  // whether the latest crash's frames were all symbolicated
  // The samples stored for each app version (at most kSamplesPerVersion, the latest by occurred
  // time): their bodies live in the sample store under SampleKey.
  struct SampleRef {
    int64_t ts = 0;
    std::string event_id;
  };
  std::map<std::string, std::vector<SampleRef>> samples;

  uint64_t events() const { return crashes + handled; }
  // {"id","title","culprit","type","sentinel","crashes","handled","events","first_seen",
  //  "last_seen","versions":{...},"missing":[...]} plus "sample" when with_sample.
  std::string ToJson(bool with_sample) const;
};

inline constexpr size_t kSamplesPerVersion = 20;
// Pending sample writes are flushed before they hold more JSON than this (see CrashGroupIndex).
inline constexpr size_t kMaxPendingSampleBytes = size_t{32} << 20;

// Where the sample of one event of a group is stored (AggregateStore metadata).
std::string SampleKey(std::string_view app, std::string_view group_id, std::string_view version,
                      std::string_view event_id);

struct CrashGroupIndexOptions {
  std::string consumer = "groups";
  size_t records_per_turn = 64;
  int64_t snapshot_interval_ms = 5000;
  int64_t idle_wait_ms = 20;
};

class CrashGroupIndex {
 public:
  // Whether the symbol file named by a missing id ("debug_id:...") is stored now.
  using AvailableFn = std::function<bool(const std::string& app, std::string_view missing_id)>;
  using ReprocessFn =
      std::function<void(const std::string& app, std::vector<process::ReprocessTarget>)>;

  // Loads `snapshot_path` if it exists. Corruption if it exists and does not parse (delete it
  // to rebuild the index from the processed log).
  static Result<std::unique_ptr<CrashGroupIndex>> Open(log::LogStore* processed,
                                                       std::string snapshot_path, Clock* clock,
                                                       CrashGroupIndexOptions options = {});
  ~CrashGroupIndex();  // Stop()

  // Before Start: how to ask about symbols and where to send crashes to reprocess.
  void SetReprocessor(AvailableFn available, ReprocessFn reprocess);
  // Before Start: where samples go (must outlive the index); without it none are kept.
  void SetSampleStore(AggregateStore* store) { sample_store_ = store; }

  void Start();
  // Stops the worker and saves the snapshot.
  void Stop();
  // One round on the caller's thread (tests and tools; Start must not have been called).
  Status RunRound(bool* did_work);
  Status SaveSnapshot();

  // Groups of `app`, most events first; `version` (if not empty) keeps groups with events of that
  // version and counts only those.
  std::vector<CrashGroup> List(const std::string& app, const std::string& version) const;
  std::optional<CrashGroup> Get(const std::string& app, const std::string& group_id) const;
  // The stored samples (JSON, see docs/api.md) of a group whose crash occurred in
  // [from_ms, to_ms), newest first, per version at most kSamplesPerVersion.
  Result<std::vector<std::string>> Samples(const std::string& app, const std::string& group_id,
                                           int64_t from_ms, int64_t to_ms) const;

  // Sends every sentinel crash of `app` (of `version`, unless empty) to the reprocessor; returns
  // how many crashes were sent.
  size_t ReprocessSentinel(const std::string& app, const std::string& version);
  // Sends the sentinel crashes of `app` (every app if empty) that miss a symbol file which is
  // now available. Returns how many.
  size_t ReprocessAvailable(const std::string& app);

  // Crashes waiting in sentinel groups, over all apps.
  size_t sentinel_crashes() const;

 private:
  struct SentinelCrash {
    std::string group_id;
    std::string version;
    uint64_t raw_offset = 0;
    int64_t ts = 0;  // occurred time
    bool handled = false;
    std::vector<std::string> missing;
  };
  struct AppState {
    std::map<std::string, CrashGroup> groups;
    std::unordered_map<std::string, SentinelCrash> sentinel;  // by event id
  };

  CrashGroupIndex(log::LogStore* processed, std::string snapshot_path, Clock* clock,
                  CrashGroupIndexOptions options)
      : processed_(processed),
        snapshot_path_(std::move(snapshot_path)),
        clock_(clock),
        options_(std::move(options)) {}
  Status LoadSnapshot(std::string_view bytes);
  void Run();
  // Applies one processed record; appends to *ready the crashes whose symbols are already
  // there. Requires mu_.
  void ApplyLocked(const std::string& app, const BatchRecord& record,
                   std::map<uint64_t, std::vector<std::string>>* ready,
                   std::set<std::string>* moved_from);
  // Recomputes first and last seen of the sentinel groups crashes moved out of, from the
  // crashes still in them; a group whose sample left gets its latest remaining crash processed
  // again (added to *refresh) to become the sample. Requires mu_.
  void RefreshSentinelGroupsLocked(AppState* state, const std::set<std::string>& groups,
                                   std::map<uint64_t, std::vector<std::string>>* refresh);
  // Keeps the event as a sample of its (group, version) if it is among the latest; queues the
  // store writes. Requires mu_.
  void AddSampleLocked(const std::string& app, CrashGroup* g, const std::string& version,
                       const EventView& e, std::string json);
  // Forgets (and queues the delete of) the event's sample in `g`, if it is one. Requires mu_.
  void RemoveSampleLocked(const std::string& app, CrashGroup* g, const std::string& version,
                          const std::string& event_id);
  // Queue a sample's store write (see pending_samples_). Require mu_.
  void QueueSamplePutLocked(std::string key, std::string json, bool maybe_stored);
  void QueueSampleDeleteLocked(std::string key);
  // Writes the pending samples to the store (one atomic write, durable with `sync`); on failure
  // they stay pending, under any newer write of the same key. Any thread.
  Status FlushSamples(bool sync);
  static std::vector<process::ReprocessTarget> Targets(
      std::map<uint64_t, std::vector<std::string>> by_offset);

  log::LogStore* const processed_;
  const std::string snapshot_path_;
  Clock* const clock_;
  const CrashGroupIndexOptions options_;
  AvailableFn available_;
  ReprocessFn reprocess_;
  AggregateStore* sample_store_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, AppState> apps_;  // guarded by mu_
  std::map<std::string, uint64_t> next_;  // guarded by mu_: next processed offset per app
  // Sample writes not in the store yet, by store key: the sample's JSON, or nullopt to delete the
  // key there. Pending rather than written each round, so that a sample evicted by a later crash
  // of its (group, version) before the next flush never reaches the store: in a crash storm a
  // (group, version) costs at most kSamplesPerVersion puts and deletes per snapshot, not a put
  // and a delete per crash. Flushed, synced, before each snapshot (whose offsets reflect them),
  // and early past kMaxPendingSampleBytes. Guarded by mu_.
  struct PendingSample {
    std::optional<std::string> json;
    bool only_here = false;  // a new sample since the last flush: a delete needs no store write
  };
  std::unordered_map<std::string, PendingSample> pending_samples_;
  size_t pending_sample_bytes_ = 0;  // guarded by mu_: the JSON held in pending_samples_
  bool dirty_ = false;               // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool backlog_ = false;             // worker thread: the last round left records unread
  int64_t last_snapshot_ms_ = 0;     // worker thread
  std::thread worker_;
};

}  // namespace vigil::serve
