// CrashGroupsApi: the crash-group endpoints of the read API (API token of the app).
//
//   GET  /v1/apps/{app}/crash-groups[?version=V][&limit=N]  groups, most events first
//   GET  /v1/apps/{app}/crash-groups/{id}                   one group, with its latest sample
//   POST /v1/apps/{app}/reprocess[?version=V]               re-run the sentinel crashes
//
// docs/protocol.md has every field. Answers are built from the CrashGroupIndex on the loop
// thread (it answers from memory in microseconds).
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <string_view>

#include "ingest/app_registry.h"
#include "ingest/metrics.h"
#include "serve/crash_group_index.h"

namespace vigil::serve {

class CrashGroupsApi {
 public:
  // Pointers must outlive the API.
  CrashGroupsApi(CrashGroupIndex* index, ingest::Metrics* metrics)
      : index_(index), metrics_(metrics) {}

  // `rest` follows /v1/apps/{app}/crash-groups: "" or "/{id}". Loop thread.
  void HandleGroups(h2o_req_t* req, const ingest::App& app, std::string_view rest);
  // `rest` follows /v1/apps/{app}/reprocess. Loop thread.
  void HandleReprocess(h2o_req_t* req, const ingest::App& app, std::string_view rest);

 private:
  void Reply(h2o_req_t* req, int status, std::string_view json);
  void Error(h2o_req_t* req, int status, std::string_view message);

  CrashGroupIndex* const index_;
  ingest::Metrics* const metrics_;
};

}  // namespace vigil::serve
