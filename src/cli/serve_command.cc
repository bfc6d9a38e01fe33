// `vigil serve`: runs the embedded server — ingest over HTTP in front of the raw log, the
// processing stage (raw log -> processed log), the crash-group index and the APIs.
//
// Start-up order: config, data directory, admin token, log recovery (raw, then processed), apps
// (creating the demo app on first start), symbols, the processing stage and crash-group index,
// then the HTTP loops. Shutdown (SIGINT/SIGTERM): stop accepting, stop the loops, drain the raw
// log so every batch already taken is made durable, then stop processing (committing its
// offsets) and save the crash-group snapshot.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "archive/archiver.h"
#include "batch/batch_layer.h"
#include "cli/commands.h"
#include "cli/serve_config.h"
#include "common/data_dir_lock.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/ingest_burst.h"
#include "common/ingest_pause.h"
#include "common/open_file_limit.h"
#include "common/prometheus_text.h"
#include "common/rate_limited_log.h"
#include "common/secret.h"
#include "common/thread_priority.h"
#include "ingest/admin_handler.h"
#include "ingest/api_router.h"
#include "ingest/events_handler.h"
#include "ingest/http_server.h"
#include "ingest/quota_limiter.h"
#include "ingest/symbol_uploads.h"
#include "ingest/symbols_handler.h"
#include "log/local_log.h"
#include "log/resolving_log.h"
#include "process/processing_stage.h"
#include "serve/analytics_api.h"
#include "serve/batch_api.h"
#include "serve/crash_group_index.h"
#include "serve/crash_groups_api.h"
#include "serve/rocksdb_store.h"
#include "speed/speed_layer.h"
#include "symbols/child_converter.h"
#include "symbols/symbol_store.h"

namespace vigil::cli {

namespace {

// The admin token's digest: from config, else <data>/admin-token, else a new one written there.
Result<std::string> AdminTokenDigest(const ServeConfig& config, bool* generated,
                                     std::string* plaintext) {
  if (!config.admin_token.empty()) return Sha256Hex(config.admin_token);
  std::string path = config.data_dir + "/admin-token";
  Result<std::string> existing = ReadFile(path);
  if (existing.ok()) {
    std::string token = *existing;
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    if (token.empty()) return Status::InvalidArgument(path + " is empty; delete it to regenerate");
    return Sha256Hex(token);
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  *plaintext = RandomToken("vadm_", 24);
  VIGIL_RETURN_IF_ERROR(WriteFileAtomically(path, *plaintext + "\n", 0600));
  ::chmod(path.c_str(), 0600);
  *generated = true;
  return Sha256Hex(*plaintext);
}

}  // namespace

// The stages that read raw records through the processed log's references (log/
// resolving_log.h): the raw log's retention waits for them as well as for processing.
constexpr const char* kRawLogReaders[] = {"archive", "speed"};

int RunServeCommand(const std::vector<std::string>& args) {
  ServeConfig config;
  std::string config_path;
  if (const char* env = std::getenv("VIGIL_CONFIG")) config_path = env;
  ServeConfig from_flags;
  FlagSet flags("vigil serve [--data DIR] [--listen HOST:PORT] [--admin-token T] [--config FILE]",
                "Runs every stage of Vigil in one process on local disk: the ingest collector\n"
                "(POST /v1/events), the durable log, the admin API and /metrics. Settings come\n"
                "from defaults, then --config (TOML), then VIGIL_* variables, then flags.\n"
                "See docs/configuration.md.");
  flags.String("data", &from_flags.data_dir, "data directory");
  flags.String("listen", &from_flags.listen,
               "address to listen on: IP:PORT, or [IPv6]:PORT (port 0 picks a free one)");
  flags.String("api-listen", &from_flags.api_listen,
               "a second address, for symbol uploads (and the rest of the API); then --listen "
               "takes bodies up to max_body_bytes only");
  flags.String("admin-token", &from_flags.admin_token,
               "admin token (default: <data>/admin-token, generated at first start)");
  flags.String("config", &config_path, "TOML configuration file");
  flags.Int("threads", &from_flags.threads, "HTTP event loops (0 = one per core)");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil serve")) return *exit_code;
  Status st;
  if (!config_path.empty()) st = ApplyTomlFile(config_path, &config);
  if (st.ok()) st = ApplyEnvironment(&config);
  if (!st.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", st.message().c_str());
    return 2;
  }
  if (flags.WasSet("data")) config.data_dir = from_flags.data_dir;
  if (flags.WasSet("listen")) config.listen = from_flags.listen;
  if (flags.WasSet("api-listen")) config.api_listen = from_flags.api_listen;
  if (flags.WasSet("admin-token")) config.admin_token = from_flags.admin_token;
  if (flags.WasSet("threads")) config.threads = from_flags.threads;

  std::string host;
  uint16_t port;
  st = ParseListen(config.listen, &host, &port);
  if (st.ok()) st = ValidateServeConfig(config);
  if (st.ok()) st = MakeDirs(config.data_dir);
  if (!st.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", st.message().c_str());
    return 2;
  }
  // Before anything in the directory is opened: common/data_dir_lock.h says why.
  Result<DataDirLock> data_lock = DataDirLock::Acquire(config.data_dir);
  if (!data_lock.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", data_lock.status().message().c_str());
    return 1;
  }

  // Signals are taken by sigtimedwait below; block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Each connection and each app's open segments take a descriptor (common/open_file_limit.h).
  const OpenFileLimit files = RaiseOpenFileLimit();
  if (files.soft > 0 && files.soft < kLowOpenFileLimit) {
    std::fprintf(stderr,
                 "vigil: warning: at most %llu open files (ulimit -Hn): each client connection and "
                 "each app's log segments take one; allow at least %llu (LimitNOFILE= in a "
                 "systemd unit)\n",
                 static_cast<unsigned long long>(files.soft),
                 static_cast<unsigned long long>(kLowOpenFileLimit));
  }

  SetBackgroundNice(static_cast<int>(config.background_nice));
  SetBurstYieldLimitMs(config.burst_yield_seconds * 1000);

  bool token_generated = false;
  std::string admin_token;
  Result<std::string> admin_digest = AdminTokenDigest(config, &token_generated, &admin_token);
  if (!admin_digest.ok()) {
    std::fprintf(stderr, "vigil serve: admin token: %s\n", admin_digest.status().message().c_str());
    return 1;
  }

  std::unique_ptr<ingest::Metrics> metrics;
  log::LocalLogOptions log_options;
  log_options.partition.segment_bytes = static_cast<uint64_t>(config.segment_bytes);
  log_options.partition.dedup_window_ms = config.dedup_window_hours * 3600 * 1000;
  log_options.max_backlog_bytes = static_cast<uint64_t>(config.max_backlog_bytes);
  log_options.max_partition_backlog_bytes = log_options.max_backlog_bytes / 4 * 3;
  log_options.retention_ms = config.retention_hours * 3600 * 1000;
  // Ingest stops short of a full disk, leaving the rest to the stages that drain the log; at
  // twice that, retention stops waiting for its age bound (log/local_log.h, "Disk reserve").
  log_options.min_free_bytes = static_cast<uint64_t>(config.min_free_disk_mb) << 20;
  log_options.pressure_free_bytes = 2 * log_options.min_free_bytes;
  // A raw record may go once processing has passed it and so have the readers of the processed
  // log that resolve its references to raw records (log/resolving_log.h).
  log_options.retention_consumers = {"process"};
  log_options.retention_consumers.insert(log_options.retention_consumers.end(),
                                         std::begin(kRawLogReaders), std::end(kRawLogReaders));
  ingest::Metrics* metrics_ptr = nullptr;
  log_options.on_commit = [&metrics_ptr](int64_t ns, size_t records) {
    if (metrics_ptr != nullptr) metrics_ptr->ObserveFsync(ns, records);
  };
  log_options.on_writer_wait = [](int64_t waited_ns, int64_t now_ns) {
    NoteLogWriterWait(waited_ns, now_ns);  // the raw log's load: common/ingest_burst.h
    YieldWakeupsWhileSaturated();
  };
  std::fprintf(stderr, "vigil: recovering the log in %s/log/raw\n", config.data_dir.c_str());
  Result<std::unique_ptr<log::LocalLog>> log =
      log::LocalLog::Open(config.data_dir + "/log/raw", log_options, SystemClock());
  if (!log.ok()) {
    std::fprintf(stderr, "vigil serve: cannot open the log: %s\n", log.status().ToString().c_str());
    return 1;
  }
  if (Status writable = (*log)->Writable(); !writable.ok()) {
    // Most likely a disk already under min_free_disk_mb: say so now, not at the first 503.
    std::fprintf(stderr, "vigil serve: warning: ingest will answer 503 until this changes: %s\n",
                 writable.message().c_str());
  }
  metrics = std::make_unique<ingest::Metrics>(log->get());
  metrics_ptr = metrics.get();

  Result<std::unique_ptr<ingest::AppRegistry>> apps =
      ingest::AppRegistry::Open(config.data_dir, SystemClock());
  if (!apps.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", apps.status().ToString().c_str());
    return 1;
  }
  std::string demo_banner;
  if ((*apps)->size() == 0) {
    Result<ingest::CreatedApp> demo = (*apps)->Create("demo");
    if (!demo.ok()) {
      std::fprintf(stderr, "vigil serve: cannot create the demo app: %s\n",
                   demo.status().ToString().c_str());
      return 1;
    }
    demo_banner = "  demo app:     " + demo->app.id + "\n" +
                  "  ingest key:   " + demo->app.ingest_key + "\n" +
                  "  api token:    " + demo->api_token + "   (shown once; POST /v1/admin/apps/" +
                  demo->app.id + "/api-token makes a new one)\n";
  }

  ingest::IngestLimits limits;
  limits.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  limits.max_decompressed_bytes = static_cast<size_t>(config.max_decompressed_bytes);
  limits.batch.max_events = static_cast<size_t>(config.max_events_per_batch);
  ingest::QuotaLimiter quotas(SystemClock());
  metrics->AddRenderer([&quotas](std::string* out) { quotas.Render(out); });
  metrics->AddRenderer(
      [registry = apps->get()](std::string* out) { registry->RenderPreviousKeyUse(out); });
  ingest::EventsHandler events(apps->get(), log->get(), metrics.get(), SystemClock(), limits,
                               &quotas);
  ingest::AdminHandler admin(apps->get(), metrics.get(), *admin_digest);
  Result<std::unique_ptr<symbols::SymbolStore>> symbol_store =
      symbols::SymbolStore::Open(config.data_dir + "/symbols");
  if (!symbol_store.ok()) {
    std::fprintf(stderr, "vigil serve: cannot open the symbol store: %s\n",
                 symbol_store.status().ToString().c_str());
    return 1;
  }
  // Chunked symbol uploads in progress, with what an earlier run left open.
  Result<std::unique_ptr<ingest::SymbolUploads>> symbol_uploads =
      ingest::SymbolUploads::Open(config.data_dir + "/symbols/.uploads", SystemClock());
  if (!symbol_uploads.ok()) {
    std::fprintf(stderr, "vigil serve: cannot open %s/symbols/.uploads: %s\n",
                 config.data_dir.c_str(), symbol_uploads.status().ToString().c_str());
    return 1;
  }
  // Object files are converted in a child process: LLVM's readers crash on some malformed files.
  symbols::ChildConverter::Limits convert_limits;
  convert_limits.timeout_ms = config.symbol_convert_timeout_s * 1000;
  convert_limits.cpu_seconds = config.symbol_convert_timeout_s;
  convert_limits.memory_mb = config.symbol_convert_memory_mb;
  auto converter = std::make_shared<symbols::ChildConverter>(
      symbols::ChildConverter::SelfArgv(), config.data_dir + "/symbols/.convert", convert_limits);
  (*symbol_store)->SetObjectConverter([converter](std::string_view data, std::string_view name) {
    return converter->Convert(data, name);
  });
  std::fprintf(stderr, "vigil: recovering the log in %s/log/processed\n", config.data_dir.c_str());
  log::LocalLogOptions processed_options = log_options;
  processed_options.on_commit = nullptr;
  processed_options.on_writer_wait = nullptr;
  processed_options.min_free_bytes = 0;  // processing drains the raw log into it: never refused
  processed_options.max_partition_backlog_bytes = 0;  // a round of one app may be the backlog
  // A processed record may go once it is archived and every stage reading it has passed it.
  processed_options.retention_consumers = {"archive", "groups", "speed"};
  Result<std::unique_ptr<log::LocalLog>> processed_log =
      log::LocalLog::Open(config.data_dir + "/log/processed", processed_options, SystemClock());
  if (!processed_log.ok()) {
    std::fprintf(stderr, "vigil serve: cannot open the processed log: %s\n",
                 processed_log.status().ToString().c_str());
    return 1;
  }
  // What the archive and speed read: the processed log with its references to raw records
  // resolved. The crash-group index reads it as is (references hold no crashes).
  log::ResolvingLog processed_view(processed_log->get(), log->get(), "process");
  process::ProcessingOptions processing_options;
  // A reader of the processed log at its end commits no further in the raw log than processing
  // had committed then; each commit of processing moves them up, so that an app that goes quiet
  // does not keep its raw segments (log/resolving_log.h).
  RateLimitedLog refresh_errors;  // the processing thread's, which alone calls on_committed
  processing_options.on_committed = [&processed_view, &refresh_errors](const std::string& app) {
    for (const char* reader : kRawLogReaders) {
      Status refreshed = processed_view.RefreshBase(reader, app);
      if (!refreshed.ok()) {
        refresh_errors.Print(std::string("vigil: process: raw-log commit of ") + reader + " for " +
                             app + ": " + refreshed.ToString());
      }
    }
  };
  process::ProcessingStage processing(log->get(), processed_log->get(), symbol_store->get(),
                                      SystemClock(), processing_options);
  Result<std::unique_ptr<serve::CrashGroupIndex>> groups = serve::CrashGroupIndex::Open(
      processed_log->get(), config.data_dir + "/crash-groups.snapshot", SystemClock());
  if (!groups.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", groups.status().ToString().c_str());
    return 1;
  }
  archive::ArchiverOptions archive_options;
  archive_options.retention_days = config.archive_retention_days;
  archive_options.app_retention_days = config.archive_app_retention_days;
  archive_options.flush_interval_ms = config.archive_flush_ms;
  Result<std::unique_ptr<archive::Archiver>> archiver = archive::Archiver::Open(
      &processed_view, config.data_dir + "/archive", SystemClock(), archive_options);
  if (!archiver.ok()) {
    std::fprintf(stderr, "vigil serve: cannot open the archive: %s\n",
                 archiver.status().ToString().c_str());
    return 1;
  }
  Result<std::unique_ptr<serve::RocksDbStore>> aggregates =
      serve::RocksDbStore::Open(config.data_dir + "/aggregates");
  if (!aggregates.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", aggregates.status().ToString().c_str());
    return 1;
  }
  Result<std::unique_ptr<speed::SpeedLayer>> speed_layer =
      speed::SpeedLayer::Open(&processed_view, aggregates->get(), SystemClock());
  if (!speed_layer.ok()) {
    std::fprintf(stderr, "vigil serve: speed layer: %s\n", speed_layer.status().ToString().c_str());
    return 1;
  }
  batch::BatchOptions batch_options;
  batch_options.hourly_interval_ms = config.batch_interval_minutes * 60 * 1000;
  batch::BatchLayer batch_layer(config.data_dir + "/archive", archiver->get(), aggregates->get(),
                                SystemClock(), batch_options);
  symbols::SymbolStore* store = symbol_store->get();
  serve::CrashGroupIndex* index = groups->get();
  index->SetSampleStore(aggregates->get());
  index->SetReprocessor(
      [store](const std::string& app, std::string_view id) { return store->Provides(app, id); },
      [&processing](const std::string& app, std::vector<process::ReprocessTarget> targets) {
        processing.Reprocess(app, std::move(targets));
      });
  // Crashes that wait for a symbol file move to their groups as soon as it is stored.
  store->SetOnAdded([index](const std::string& app, const symbols::StoredSymbolFile&) {
    index->ReprocessAvailable(app);
  });
  serve::MergedCellCache query_cache;
  metrics->AddRenderer([&processing, &processed_view, index, &archiver, &speed_layer, &batch_layer,
                        &query_cache](std::string* out) {
    processing.RenderMetrics(out);
    RenderIngestBurstMetrics(out);
    RenderIngestPauseMetrics(out);
    processed_view.RenderMetrics(out);
    (*archiver)->RenderMetrics(out);
    (*speed_layer)->RenderMetrics(out);
    batch_layer.RenderMetrics(out);
    query_cache.RenderMetrics(out);
    AppendMetric(out, "vigil_crash_groups_sentinel_crashes", "gauge",
                 "Crashes waiting for symbol files.", index->sentinel_crashes());
  });
  processing.Start();
  index->Start();
  (*archiver)->Start();
  (*speed_layer)->Start();
  batch_layer.Start();
  // Symbols stored while the server was down.
  index->ReprocessAvailable("");

  ingest::SymbolsHandler symbols_api(apps->get(), symbol_store->get(), symbol_uploads->get(),
                                     metrics.get(), SystemClock(), log_options.min_free_bytes);
  serve::CrashGroupsApi groups_api(index, aggregates->get(), &batch_layer, metrics.get(),
                                   SystemClock(), &query_cache);
  ingest::ApiRouter router(&events, &admin, &symbols_api, apps->get(), metrics.get(), log->get());
  router.AddAppResource(
      "crash-groups", [&groups_api](h2o_req_t* req, const ingest::App& app, std::string_view rest) {
        groups_api.HandleGroups(req, app, rest);
      });
  serve::AnalyticsApi analytics(aggregates->get(), &batch_layer, speed_layer->get(),
                                archiver->get(), log->get(), metrics.get(), SystemClock());
  router.AddAppResource(
      "metrics", [&analytics](h2o_req_t* req, const ingest::App& app, std::string_view rest) {
        analytics.HandleMetrics(req, app, rest);
      });
  for (const char* resource : {"network", "user-flows", "custom-events"}) {
    router.AddAppResource(resource, [&analytics, resource](h2o_req_t* req, const ingest::App& app,
                                                           std::string_view rest) {
      analytics.HandleBreakdown(req, app, resource, rest);
    });
  }
  router.AddAppResource(
      "status", [&analytics](h2o_req_t* req, const ingest::App& app, std::string_view rest) {
        analytics.HandleStatus(req, app, rest);
      });
  serve::BatchApi batch_api(&batch_layer, apps->get(), metrics.get(), SystemClock());
  admin.AddRoute("/v1/admin/batch/run", [&batch_api](h2o_req_t* req) { batch_api.HandleRun(req); });
  router.AddAppResource(
      "reprocess", [&groups_api](h2o_req_t* req, const ingest::App& app, std::string_view rest) {
        groups_api.HandleReprocess(req, app, rest);
      });
  // h2o reads a request's whole body, up to the listener's cap, before any handler sees it (to a
  // temporary file past 32 MiB). A cap that fits whole symbol files let any client make it read
  // 513 MiB for /v1/events before its 1 MiB answer, so `listen` takes the larger of an ingest
  // body and a symbol chunk: files over a chunk come in chunks (SymbolUploads). With
  // api_listen, symbol uploads have a listener of their own, which still takes whole files in
  // one request, and `listen` takes ingest bodies only.
  const bool api_apart = !config.api_listen.empty();
  const size_t ingest_cap = static_cast<size_t>(config.max_body_bytes) + (1 << 20);
  ingest::HttpServerOptions http;
  http.max_request_bytes =
      api_apart ? ingest_cap
                : std::max<size_t>(ingest_cap, ingest::SymbolUploads::kChunkBytes + (1 << 20));
  http.host = host;
  http.port = port;
  http.threads = static_cast<int>(config.threads);
  http.pin_loops = config.pin_http_loops == 1;
  http.observe_loop_lag = [m = metrics.get()](int64_t late_ns) { m->ObserveLoopLag(late_ns); };
  std::string api_url;  // set before `server` starts, read by its loops only
  // What an answer h2o gives by itself (a body over the cap) adds: how to send less.
  auto early_error = [&api_url, api_apart, max_body = config.max_body_bytes,
                      m = metrics.get()](bool api_listener) {
    return [&api_url, api_apart, api_listener, max_body, m](std::string_view path, int status) {
      m->CountRequest(status);
      if (status != 413) return std::string();
      if (path == "/v1/events") {
        return "a batch is at most " + std::to_string(max_body) +
               " bytes as sent (max_body_bytes): send fewer events per batch";
      }
      if (path.starts_with("/v1/apps/") && path.find("/symbols") != std::string_view::npos) {
        if (api_listener) return std::string("a symbol file is at most 512 MiB");
        if (api_apart) {
          return "symbol files are uploaded to the API listener, " + api_url + " (api_listen)";
        }
        return std::string(
            "send symbol files over 8 MiB in chunks, through POST "
            "/v1/apps/{app}/symbols/uploads (`vigil symbols upload` does it)");
      }
      return std::string();
    };
  };
  http.on_early_error = early_error(false);
  ingest::HttpServer server(
      http, [&router, api_apart, &api_url, m = metrics.get()](h2o_req_t* req) {
        if (api_apart && ingest::ApiRouter::IsSymbolUpload(req)) {
          m->CountRequest(403);
          ingest::SendError(req, 403,
                            "symbol files are uploaded to the API listener, " + api_url +
                                " (api_listen), not to this one");
          return;
        }
        router.Handle(req);
      });
  std::optional<ingest::HttpServer> api_server;
  if (api_apart) {
    ingest::HttpServerOptions api = http;
    (void)ParseListen(config.api_listen, &api.host, &api.port);  // checked by ValidateServeConfig
    api.listen_flag = "--api-listen";
    api.threads = 1;
    api.pin_loops = false;
    api.max_request_bytes = symbols::kMaxSymbolFileBytes + (1 << 20);
    api.on_early_error = early_error(true);
    api_server.emplace(api, [&router](h2o_req_t* req) { router.Handle(req); });
  }
  metrics->AddRenderer([&server, &api_server](std::string* out) {
    AppendMetric(out, "vigil_http_accept_pauses_total", "counter",
                 "Times an event loop stopped accepting connections for 100 ms, out of file "
                 "descriptors (raise the open-file limit) or socket memory.",
                 server.accept_pauses() + (api_server ? api_server->accept_pauses() : 0));
  });
  st = Status::Ok();
  if (api_server) {
    st = api_server->Start();
    std::string api_host;
    uint16_t unused_port;
    (void)ParseListen(config.api_listen, &api_host, &unused_port);
    api_url = HttpUrlOf(api_host, api_server->port());
  }
  if (st.ok()) st = server.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "vigil serve: %s\n", st.message().c_str());
    return 1;
  }

  std::string url = HttpUrlOf(host, server.port());
  std::printf("vigil: listening on %s (%d event loops%s), data in %s\n", url.c_str(),
              server.threads(), server.pinned() ? ", one per CPU" : "", config.data_dir.c_str());
  if (api_server) {
    std::printf("vigil: symbol uploads (and the rest of the API) on %s\n", api_url.c_str());
  }
  if (token_generated) {
    std::printf("  admin token:  %s   (saved in %s/admin-token, mode 0600)\n", admin_token.c_str(),
                config.data_dir.c_str());
  }
  if (!demo_banner.empty()) {
    std::shared_ptr<const ingest::App> demo =
        (*apps)->List().empty() ? nullptr : (*apps)->FindById((*apps)->List()[0].id);
    std::printf("first start:\n%s", demo_banner.c_str());
    std::printf(
        "send a first batch:\n"
        "  curl -s %s/v1/events -H 'X-Vigil-Key: %s' -H 'Content-Type: application/json' \\\n"
        "    -d '{\"batch_id\":\"first-batch\",\"device\":{\"id\":\"dev-1\",\"os\":\"android\"},"
        "\"app\":{\"version\":\"1.0.0\"},\"user\":{\"id\":\"u1\"},"
        "\"events\":[{\"id\":\"e1\",\"type\":\"session_start\",\"ts\":%lld}]}'\n",
        url.c_str(), demo ? demo->ingest_key.c_str() : "",
        static_cast<long long>(SystemClock()->NowMs()));
    // The token the server generated is read from the data directory; one given to it is
    // not repeated here.
    std::printf(
        "manage apps (create, quotas, rules, keys; `vigil apps --help`):\n"
        "  vigil apps list --server %s %s\n",
        url.c_str(),
        token_generated ? ("--data " + config.data_dir).c_str()
                        : "--admin-token <the admin token>");
  }
  std::fflush(stdout);

  // Until a stop signal: every minute, when previous ingest keys were last used goes to
  // apps.json, so that their last_used_ms outlives a restart (AppRegistry::SaveKeyUse).
  auto save_key_use = [&apps](int64_t min_advance_ms) {
    if (Status saved = (*apps)->SaveKeyUse(min_advance_ms); !saved.ok()) {
      std::fprintf(stderr, "vigil: cannot save when previous ingest keys were last used: %s\n",
                   saved.ToString().c_str());
    }
  };
  int sig = 0;
  for (;;) {
    const timespec minute{60, 0};
    sig = sigtimedwait(&stop_signals, nullptr, &minute);
    if (sig > 0) break;
    save_key_use(ingest::AppRegistry::kKeyUseSaveMs);
  }
  std::fprintf(stderr, "vigil: %s received, draining the log\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.StopAccepting();
  if (api_server) api_server->StopAccepting();
  usleep(200 * 1000);  // answers already on their way reach their loops
  server.Stop();
  if (api_server) api_server->Stop();
  save_key_use(0);
  // Processing reads the raw log: stop it (committing its offsets) before the logs close.
  batch_api.Stop();
  batch_layer.Stop();
  processing.Stop();
  index->Stop();
  (*speed_layer)->Stop();
  (*archiver)->Stop();  // flushes what it holds in memory
  // Drains the queue: every batch taken is made durable (its client, no longer answered, will
  // retry with the same batch_id and get "duplicate").
  log->reset();
  processed_log->reset();
  std::fprintf(stderr, "vigil: stopped\n");
  std::fflush(stderr);
  // Contexts and connections of h2o are not torn down one by one; the OS reclaims them.
  _exit(0);
}

}  // namespace vigil::cli
