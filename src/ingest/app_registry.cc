// App registry persistence (apps.json) and lookups.
#include "ingest/app_registry.h"

#include <simdjson.h>

#include <algorithm>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/file_util.h"
#include "common/json_writer.h"
#include "common/prometheus_text.h"
#include "common/secret.h"

namespace vigil::ingest {

Result<std::unique_ptr<AppRegistry>> AppRegistry::Open(const std::string& data_dir, Clock* clock) {
  std::unique_ptr<AppRegistry> r(new AppRegistry(data_dir + "/apps.json", clock));
  VIGIL_RETURN_IF_ERROR(r->Load());
  return r;
}

Status AppRegistry::Load() {
  Result<std::string> text = ReadFile(path_);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return Status::Ok();
    return text.status();
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  auto bad = [&](const char* what) {
    return Status::Corruption(path_ + ": " + what + "; restore it from a backup");
  };
  if (parser.parse(*text).get(root)) return bad("not valid JSON");
  simdjson::dom::array apps;
  if (root["apps"].get_array().get(apps)) return bad("no \"apps\" array");
  for (simdjson::dom::element e : apps) {
    auto app = std::make_shared<App>();
    std::string_view id, name, key, hash;
    int64_t created = 0;
    bool disabled = false;
    if (e["id"].get_string().get(id) || e["name"].get_string().get(name) ||
        e["ingest_key"].get_string().get(key) || e["api_token_sha256"].get_string().get(hash) ||
        e["disabled"].get_bool().get(disabled) || e["created_ms"].get_int64().get(created)) {
      return bad("an app entry is missing a field");
    }
    app->id = id;
    app->name = name;
    app->ingest_key = key;
    app->api_token_sha256 = hash;
    app->disabled = disabled;
    app->created_ms = created;
    if (simdjson::dom::element q; !e["quota"].get(q)) {  // absent in files written before quotas
      if (q["events_per_second"].get_uint64().get(app->quota.events_per_second) ||
          q["burst_events"].get_uint64().get(app->quota.burst_events)) {
        return bad("an app's quota is missing a field");
      }
      if (app->quota.events_per_second > AppQuota::kMaxEventsPerSecond ||
          app->quota.burst_events > AppQuota::kMaxBurstEvents) {
        return bad("an app's quota is out of range");
      }
    }
    if (simdjson::dom::array keys; !e["previous_ingest_keys"].get_array().get(keys)) {
      for (simdjson::dom::element k : keys) {
        PreviousIngestKey previous;
        std::string_view value;
        if (k["key"].get_string().get(value) ||
            k["retired_ms"].get_int64().get(previous.retired_ms)) {
          return bad("an app's previous ingest key is missing a field");
        }
        previous.key = value;
        if (int64_t last_used; !k["last_used_ms"].get_int64().get(last_used)) {
          previous.use->last_ms = last_used;
          previous.use->saved_ms = last_used;
        }
        app->previous_ingest_keys.push_back(std::move(previous));
      }
    }
    if (simdjson::dom::element rules; !e["drop_rules"].get(rules)) {
      Result<std::shared_ptr<const DropRules>> parsed = DropRules::Parse(simdjson::minify(rules));
      if (!parsed.ok()) {
        return Status::Corruption(path_ + ": the drop rules of app " + app->id + " are invalid (" +
                                  parsed.status().message() + "); restore it from a backup");
      }
      app->drop_rules = std::move(*parsed);
    }
    IndexLocked(std::move(app));
  }
  return Status::Ok();
}

namespace {

// Calls f(key) for each ingest key `app` accepts.
template <typename F>
void ForEachIngestKey(const App& app, F f) {
  f(app.ingest_key);
  for (const PreviousIngestKey& p : app.previous_ingest_keys) f(p.key);
}

}  // namespace

void AppRegistry::IndexLocked(std::shared_ptr<const App> app) {
  ForEachIngestKey(*app, [&](const std::string& key) { by_key_[key] = app; });
  by_id_[app->id] = app;
  by_token_hash_[app->api_token_sha256] = app;
  for (auto& existing : apps_) {
    if (existing->id == app->id) {
      // A new version of the app: a key or token it no longer has finds nothing.
      ForEachIngestKey(*existing, [&](const std::string& key) {
        auto it = by_key_.find(key);
        if (it != by_key_.end() && it->second == existing) by_key_.erase(it);
      });
      if (existing->api_token_sha256 != app->api_token_sha256) {
        by_token_hash_.erase(existing->api_token_sha256);
      }
      existing = app;
      return;
    }
  }
  apps_.push_back(std::move(app));
}

Status AppRegistry::SaveLocked() const {
  std::string out;
  JsonWriter w(&out);
  std::vector<std::pair<PreviousIngestKey::Use*, int64_t>> written_use;
  w.BeginObject().Key("version").Int(1).Key("apps").BeginArray();
  for (const auto& a : apps_) {
    w.BeginObject()
        .Key("id")
        .String(a->id)
        .Key("name")
        .String(a->name)
        .Key("ingest_key")
        .String(a->ingest_key)
        .Key("api_token_sha256")
        .String(a->api_token_sha256)
        .Key("disabled")
        .Bool(a->disabled)
        .Key("created_ms")
        .Int(a->created_ms);
    if (a->quota.limited()) {
      w.Key("quota")
          .BeginObject()
          .Key("events_per_second")
          .Uint(a->quota.events_per_second)
          .Key("burst_events")
          .Uint(a->quota.burst_events)
          .EndObject();
    }
    if (!a->previous_ingest_keys.empty()) {
      w.Key("previous_ingest_keys").BeginArray();
      for (const PreviousIngestKey& p : a->previous_ingest_keys) {
        w.BeginObject().Key("key").String(p.key).Key("retired_ms").Int(p.retired_ms);
        if (int64_t last_used = p.use->last_ms.load(std::memory_order_relaxed); last_used > 0) {
          w.Key("last_used_ms").Int(last_used);
          written_use.emplace_back(p.use.get(), last_used);
        }
        w.EndObject();
      }
      w.EndArray();
    }
    if (a->drop_rules != nullptr) w.Key("drop_rules").Raw(a->drop_rules->ToJson());
    w.EndObject();
  }
  w.EndArray().EndObject();
  out.push_back('\n');
  Status st = WriteFileAtomically(path_, out, 0600);
  if (st.ok()) {
    for (auto [use, last_used] : written_use) use->saved_ms.store(last_used);
  }
  return st;
}

Result<CreatedApp> AppRegistry::Create(std::string_view name) {
  if (name.empty() || name.size() > 100) {
    return Status::InvalidArgument("name must be a string of 1-100 bytes");
  }
  CreatedApp created;
  App& app = created.app;
  app.id = RandomToken("app_", 6);
  app.name = name;
  app.ingest_key = RandomToken("vik_", 16);
  created.api_token = RandomToken("vat_", 24);
  app.api_token_sha256 = Sha256Hex(created.api_token);
  app.created_ms = clock_->NowMs();
  std::unique_lock lock(mu_);
  IndexLocked(std::make_shared<const App>(app));
  Status st = SaveLocked();
  if (!st.ok()) {
    // Not persisted: forget it, so what the registry serves is what survives a restart.
    by_key_.erase(app.ingest_key);
    by_id_.erase(app.id);
    by_token_hash_.erase(app.api_token_sha256);
    apps_.pop_back();
    return st;
  }
  return created;
}

std::shared_ptr<const App> AppRegistry::FindByIngestKey(std::string_view key) const {
  std::shared_lock lock(mu_);
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : it->second;
}

std::shared_ptr<const App> AppRegistry::FindById(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

std::shared_ptr<const App> AppRegistry::FindByApiToken(std::string_view token) const {
  // Lookup by digest: the map probe compares digests, never the secret itself; the final
  // comparison is constant-time.
  std::string digest = Sha256Hex(token);
  std::shared_lock lock(mu_);
  auto it = by_token_hash_.find(digest);
  if (it == by_token_hash_.end()) return nullptr;
  return ConstantTimeEquals(it->second->api_token_sha256, digest) ? it->second : nullptr;
}

std::vector<App> AppRegistry::List() const {
  std::shared_lock lock(mu_);
  std::vector<App> out;
  for (const auto& a : apps_) out.push_back(*a);
  return out;
}

template <typename Change>
Status AppRegistry::UpdateApp(std::string_view id, Change change) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return Status::NotFound("no app with id '" + std::string(id) + "'");
  std::shared_ptr<const App> old = it->second;
  auto updated = std::make_shared<App>(*old);
  if constexpr (std::is_same_v<decltype(change(updated.get())), bool>) {
    if (!change(updated.get())) return Status::Ok();  // refused: nothing to save
  } else {
    change(updated.get());
  }
  IndexLocked(updated);
  Status st = SaveLocked();
  if (!st.ok()) IndexLocked(old);
  return st;
}

Status AppRegistry::SetDisabled(std::string_view id, bool disabled) {
  return UpdateApp(id, [disabled](App* app) { app->disabled = disabled; });
}

Status AppRegistry::SetQuota(std::string_view id, AppQuota quota) {
  if (quota.events_per_second > AppQuota::kMaxEventsPerSecond ||
      quota.burst_events > AppQuota::kMaxBurstEvents) {
    return Status::InvalidArgument(
        "events_per_second may be at most " + std::to_string(AppQuota::kMaxEventsPerSecond) +
        " and burst_events at most " + std::to_string(AppQuota::kMaxBurstEvents));
  }
  if (!quota.limited()) quota = {};  // no quota: no burst either
  return UpdateApp(id, [quota](App* app) { app->quota = quota; });
}

Result<std::string> AppRegistry::RotateApiToken(std::string_view id) {
  std::string token = RandomToken("vat_", 24);
  // Not persisted: the old token stays the one that works (UpdateApp puts the old app back).
  VIGIL_RETURN_IF_ERROR(
      UpdateApp(id, [digest = Sha256Hex(token)](App* app) { app->api_token_sha256 = digest; }));
  return token;
}

Status AppRegistry::SetDropRules(std::string_view id, std::shared_ptr<const DropRules> rules) {
  if (rules != nullptr && rules->empty()) rules = nullptr;
  return UpdateApp(id, [&rules](App* app) { app->drop_rules = rules; });
}

Result<std::string> AppRegistry::RotateIngestKey(std::string_view id) {
  std::string key = RandomToken("vik_", 16);
  Status full;
  VIGIL_RETURN_IF_ERROR(UpdateApp(id, [&](App* app) {
    if (app->previous_ingest_keys.size() >= App::kMaxPreviousIngestKeys) {
      full = Status::AlreadyExists("app " + app->id + " already has " +
                                   std::to_string(App::kMaxPreviousIngestKeys) +
                                   " previous ingest keys still accepted; revoke one (DELETE "
                                   "/v1/admin/apps/{id}/previous-ingest-keys/{key}) first");
      return false;
    }
    app->previous_ingest_keys.push_back({app->ingest_key, clock_->NowMs()});
    app->ingest_key = key;
    return true;
  }));
  VIGIL_RETURN_IF_ERROR(full);
  return key;
}

Status AppRegistry::RevokeIngestKey(std::string_view id, std::string_view key) {
  Status outcome;
  VIGIL_RETURN_IF_ERROR(UpdateApp(id, [&](App* app) {
    if (app->ingest_key == key) {
      outcome = Status::InvalidArgument(
          "that is app " + app->id +
          "'s current ingest key; give the app a new one first (POST "
          "/v1/admin/apps/{id}/ingest-key), then revoke this one once no installed version "
          "sends it");
      return false;
    }
    auto& keys = app->previous_ingest_keys;
    auto it = std::find_if(keys.begin(), keys.end(),
                           [&](const PreviousIngestKey& p) { return p.key == key; });
    if (it == keys.end()) {
      outcome = Status::NotFound("app " + app->id + " has no previous ingest key '" +
                                 std::string(key) + "'");
      return false;
    }
    keys.erase(it);
    return true;
  }));
  return outcome;
}

void AppRegistry::RenderPreviousKeyUse(std::string* out) const {
  AppendMetricHeader(out, "vigil_ingest_previous_key_batches_total", "counter",
                     "Batches sent with a previous ingest key of their app since start, by app "
                     "and key: when it stays flat, no installed version sends the key any more "
                     "and it can be revoked.");
  std::shared_lock lock(mu_);
  for (const auto& app : apps_) {
    for (const PreviousIngestKey& p : app->previous_ingest_keys) {
      *out += "vigil_ingest_previous_key_batches_total{app=\"" + app->id + "\",key=\"" + p.key +
              "\"} " + std::to_string(p.use->batches.load(std::memory_order_relaxed)) + "\n";
    }
  }
}

Status AppRegistry::SaveKeyUse(int64_t min_advance_ms) {
  auto due = [&] {
    for (const auto& app : apps_) {
      for (const PreviousIngestKey& p : app->previous_ingest_keys) {
        const int64_t last = p.use->last_ms.load(std::memory_order_relaxed);
        const int64_t saved = p.use->saved_ms.load(std::memory_order_relaxed);
        if (last > saved && last - saved >= min_advance_ms) return true;
      }
    }
    return false;
  };
  // Looked at under the shared lock, which ingest's key lookups share: they wait only when a
  // save is due, for the write of apps.json.
  {
    std::shared_lock lock(mu_);
    if (!due()) return Status::Ok();
  }
  std::unique_lock lock(mu_);
  return due() ? SaveLocked() : Status::Ok();
}

size_t AppRegistry::size() const {
  std::shared_lock lock(mu_);
  return apps_.size();
}

}  // namespace vigil::ingest
