// AppRegistry: the tenants (apps) — their ingest keys, hashed API tokens, enabled state, ingest
// quota and drop rules.
//
// Persisted as <data>/apps.json, rewritten atomically on every change, so apps survive restarts.
// Ingest keys identify an app's SDK traffic and are not secret (they ship inside the app); API
// tokens are secrets: only their SHA-256 is stored, and lookups compare digests in constant time.
// An app given a new ingest key (a key abused by others) keeps accepting its previous keys, which
// app versions already installed send, until an admin revokes them.
//
// Thread-safety: all methods are safe from any thread. Lookups on the ingest hot path take a
// shared lock only.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/string_hash.h"
#include "ingest/drop_rules.h"

namespace vigil::ingest {

// How many events an app may send (ingest/quota_limiter.h enforces it): a token bucket that
// refills at `events_per_second` and holds at most burst() events.
struct AppQuota {
  uint64_t events_per_second = 0;  // 0: no quota
  uint64_t burst_events = 0;       // 0: kDefaultBurstSeconds of the rate
  static constexpr uint64_t kDefaultBurstSeconds = 10;
  static constexpr uint64_t kMaxEventsPerSecond = 1'000'000'000;
  static constexpr uint64_t kMaxBurstEvents = 1'000'000'000'000;
  bool limited() const { return events_per_second > 0; }
  uint64_t burst() const {
    return burst_events > 0 ? burst_events : events_per_second * kDefaultBurstSeconds;
  }
  bool operator==(const AppQuota&) const = default;
};

// An ingest key an app had before its current one, still accepted until revoked.
struct PreviousIngestKey {
  std::string key;
  int64_t retired_ms = 0;  // when the app was given a new key
  // Its use, so that an admin can tell when no installed version sends it any more: when a
  // batch last came with it (0: never), kept across restarts (AppRegistry::SaveKeyUse), and how
  // many did since the server started. Shared by every version of the App; updated by
  // EventsHandler (NoteUse) without the registry's lock.
  struct Use {
    std::atomic<int64_t> last_ms{0};
    std::atomic<uint64_t> batches{0};
    std::atomic<int64_t> saved_ms{0};  // last_ms as apps.json holds it
  };
  std::shared_ptr<Use> use = std::make_shared<Use>();

  void NoteUse(int64_t now_ms) const {
    use->last_ms.store(now_ms, std::memory_order_relaxed);
    use->batches.fetch_add(1, std::memory_order_relaxed);
  }
};

struct App {
  static constexpr size_t kMaxPreviousIngestKeys = 8;

  std::string id;
  std::string name;
  std::string ingest_key;                               // the current one, for new app versions
  std::vector<PreviousIngestKey> previous_ingest_keys;  // oldest first
  std::string api_token_sha256;
  bool disabled = false;
  int64_t created_ms = 0;
  AppQuota quota;
  std::shared_ptr<const DropRules> drop_rules;  // null: none
};

struct CreatedApp {
  App app;
  std::string api_token;  // the only time the plaintext token exists
};

class AppRegistry {
 public:
  // Loads <data_dir>/apps.json (an empty registry if it does not exist).
  static Result<std::unique_ptr<AppRegistry>> Open(const std::string& data_dir, Clock* clock);

  // InvalidArgument for an empty or over-long name.
  Result<CreatedApp> Create(std::string_view name);
  // The app with this ingest key, current or previous; nullptr if none.
  std::shared_ptr<const App> FindByIngestKey(std::string_view key) const;
  std::shared_ptr<const App> FindById(std::string_view id) const;
  std::shared_ptr<const App> FindByApiToken(std::string_view token) const;
  std::vector<App> List() const;
  // NotFound for an unknown id.
  Status SetDisabled(std::string_view id, bool disabled);
  // NotFound for an unknown id; InvalidArgument for values over AppQuota's bounds.
  Status SetQuota(std::string_view id, AppQuota quota);
  // Replaces app `id`'s API token with a new one, returned (the only time it exists in plain):
  // the old one stops working at once. NotFound for an unknown id.
  Result<std::string> RotateApiToken(std::string_view id);
  // NotFound for an unknown id. Null or empty rules: none.
  Status SetDropRules(std::string_view id, std::shared_ptr<const DropRules> rules);
  // Gives app `id` a new ingest key, returned; its current one becomes a previous key, still
  // accepted. NotFound for an unknown id; AlreadyExists (a conflict) when the app has
  // App::kMaxPreviousIngestKeys previous keys.
  Result<std::string> RotateIngestKey(std::string_view id);
  // Stops accepting previous key `key` of app `id` at once. NotFound for an unknown id or a key
  // that is not a previous key of the app; InvalidArgument for its current key.
  Status RevokeIngestKey(std::string_view id, std::string_view key);
  size_t size() const;
  // vigil_ingest_previous_key_batches_total{app,key}: batches sent with each previous ingest
  // key since start.
  void RenderPreviousKeyUse(std::string* out) const;
  // Persists when each previous ingest key was last used, if that of one of them is at least
  // `min_advance_ms` newer than what apps.json holds (0: any newer), so that its last_used_ms
  // survives a restart. NoteUse on the ingest path only touches memory: `vigil serve` calls this
  // every minute with kKeyUseSaveMs, and at shutdown with 0, so a kill -9 loses at most
  // kKeyUseSaveMs of it (plus the minute). Ok without writing when nothing advanced that much.
  Status SaveKeyUse(int64_t min_advance_ms);
  static constexpr int64_t kKeyUseSaveMs = 10 * 60 * 1000;

 private:
  AppRegistry(std::string path, Clock* clock) : path_(std::move(path)), clock_(clock) {}
  Status Load();
  Status SaveLocked() const;  // requires mu_ held exclusively
  // Adds `app`, or replaces the app with its id, in every index (mu_ held exclusively).
  void IndexLocked(std::shared_ptr<const App> app);
  // Replaces app `id` by a copy changed by `change`, and persists it (or restores the old one).
  // A `change` returning bool may refuse: false leaves the app as it was, and Ok is returned.
  template <typename Change>
  Status UpdateApp(std::string_view id, Change change);

  const std::string path_;
  Clock* const clock_;
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<const App>> apps_;  // in creation order
  // Looked up by string_view: an ingest key is longer than the small-string buffer.
  StringMap<std::shared_ptr<const App>> by_key_, by_id_, by_token_hash_;
};

}  // namespace vigil::ingest
