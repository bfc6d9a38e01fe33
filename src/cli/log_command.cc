// `vigil log stats` and `vigil log dump`: read the local log, also while a server appends to it.
//
// Both open the log read-only (no recovery writes), so they see the records that were durable
// when they started and stop at a record still being written.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "common/batch_record.h"
#include "common/flags.h"
#include "common/json_writer.h"
#include "log/local_log.h"
#include "log/resolving_log.h"

namespace vigil::cli {

namespace {

constexpr const char* kLogUsage =
    "usage: vigil log <stats|dump> --data DIR [flags]\n"
    "\n"
    "  stats   JSON summary: per app, segments, bytes, records, events and consumer offsets\n"
    "  dump    every event as one JSON object per line, with its batch's context\n"
    "\n"
    "`vigil log stats --help` and `vigil log dump --help` list the flags.\n";

// `which` is "raw" (what ingest appended) or "processed" (what the processing stage appended).
Result<std::unique_ptr<log::LocalLog>> OpenLog(const std::string& data_dir,
                                               const std::string& which) {
  if (which != "raw" && which != "processed") {
    return Status::InvalidArgument("--log must be raw or processed, not " + which);
  }
  return log::LocalLog::OpenReadOnly(data_dir + "/log/" + which, SystemClock());
}

int Stats(const std::vector<std::string>& args) {
  std::string data = "./data";
  std::string which = "raw";
  FlagSet flags("vigil log stats --data DIR [--log raw|processed]",
                "Prints a JSON summary of a log: for each app (partition) its segments,\n"
                "bytes, offsets, records, events and consumer offsets. Safe while serving.");
  flags.String("data", &data, "data directory");
  flags.String("log", &which, "which log: raw (ingested) or processed");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil log stats"))
    return *exit_code;
  auto log = OpenLog(data, which);
  if (!log.ok()) {
    std::fprintf(stderr, "vigil log stats: %s\n", log.status().ToString().c_str());
    return 1;
  }
  std::string out;
  JsonWriter w(&out);
  uint64_t total_bytes = 0, total_records = 0, total_events = 0, total_segments = 0;
  w.BeginObject().Key("partitions").BeginArray();
  for (const log::PartitionInfo& p : (*log)->Partitions()) {
    // From the log's index (segment summaries), not a scan: a large log answers at once.
    const uint64_t records = p.records, events = p.items;
    w.BeginObject()
        .Key("app")
        .String(p.name)
        .Key("segments")
        .Uint(p.segments)
        .Key("bytes")
        .Uint(p.bytes)
        .Key("start_offset")
        .Uint(p.start_offset)
        .Key("end_offset")
        .Uint(p.end_offset)
        .Key("records")
        .Uint(records)
        .Key("events")
        .Uint(events)
        .Key("consumers")
        .BeginObject();
    for (const std::string& c : (*log)->Consumers(p.name)) {
      Result<uint64_t> off = (*log)->CommittedOffset(c, p.name);
      w.Key(c);
      if (off.ok()) {
        w.Uint(*off);
      } else {
        w.Null();
      }
    }
    w.EndObject().EndObject();
    total_bytes += p.bytes;
    total_records += records;
    total_events += events;
    total_segments += p.segments;
  }
  w.EndArray()
      .Key("totals")
      .BeginObject()
      .Key("segments")
      .Uint(total_segments)
      .Key("bytes")
      .Uint(total_bytes)
      .Key("records")
      .Uint(total_records)
      .Key("events")
      .Uint(total_events)
      .EndObject()
      .EndObject();
  std::puts(out.c_str());
  return 0;
}

int Dump(const std::vector<std::string>& args) {
  std::string data = "./data";
  std::string app;
  std::string which = "raw";
  FlagSet flags(
      "vigil log dump --data DIR [--app ID] [--log raw|processed]",
      "Prints every event in a log as one JSON object per line: app_id, offset,\n"
      "batch_id, received_ms, the batch's device, app and user, then the event's id,\n"
      "type, ts (occurred time, skew-corrected) and its other fields. In the processed\n"
      "log, crashes carry \"processed\" (symbolicated frames, group) and \"processing\".");
  flags.String("data", &data, "data directory");
  flags.String("log", &which, "which log: raw (ingested) or processed");
  flags.String("app", &app, "only this app's events");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil log dump"))
    return *exit_code;
  Status st;
  auto log = OpenLog(data, which);
  if (!log.ok()) {
    std::fprintf(stderr, "vigil log dump: %s\n", log.status().ToString().c_str());
    return 1;
  }
  // The processed log's references to raw records are dumped as the raw records they name.
  log::LogStore* reader = log->get();
  std::unique_ptr<log::LocalLog> raw;
  std::unique_ptr<log::ResolvingLog> resolved;
  if (which == "processed") {
    auto opened = OpenLog(data, "raw");
    if (!opened.ok()) {
      std::fprintf(stderr, "vigil log dump: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    raw = std::move(*opened);
    resolved = std::make_unique<log::ResolvingLog>(log->get(), raw.get(), "process");
    reader = resolved.get();
  }
  bool found = app.empty();
  int exit_code = 0;
  std::string line;
  for (const log::PartitionInfo& p : reader->Partitions()) {
    if (!app.empty() && p.name != app) continue;
    found = true;
    uint64_t from = p.start_offset;
    for (;;) {
      std::vector<log::LogRecord> records;
      st = reader->Read(p.name, from, 256, &records);
      if (!st.ok()) {
        std::fprintf(stderr, "vigil log dump: %s: %s\n", p.name.c_str(), st.ToString().c_str());
        exit_code = 1;
        break;
      }
      if (records.empty()) break;
      for (const log::LogRecord& r : records) {
        BatchRecord batch;
        st = DecodeBatchRecord(r.payload, &batch);
        if (!st.ok()) {
          std::fprintf(stderr, "vigil log dump: %s offset %llu: %s\n", p.name.c_str(),
                       static_cast<unsigned long long>(r.offset), st.message().c_str());
          exit_code = 1;
          continue;
        }
        const BatchHeader& h = batch.header;
        for (const EventView& e : batch.events) {
          line.clear();
          JsonWriter w(&line);
          w.BeginObject()
              .Key("app_id")
              .String(p.name)
              .Key("offset")
              .Uint(r.offset)
              .Key("batch_id")
              .String(h.batch_id)
              .Key("received_ms")
              .Int(h.received_ms);
          if (h.skew_corrected) w.Key("clock_skew_ms").Int(h.skew_ms);
          w.Key("device");
          h.device.ToJson(&w);
          w.Key("app");
          h.app.ToJson(&w);
          w.Key("user");
          h.user.ToJson(&w);
          w.Key("id").String(e.id).Key("type").String(EventTypeName(e.type)).Key("ts").Int(e.ts_ms);
          e.fields.ForEach([&](std::string_view k, const BinaryValue& v) {
            w.Key(k);
            v.ToJson(&w);
          });
          w.EndObject();
          line.push_back('\n');
          std::fwrite(line.data(), 1, line.size(), stdout);
        }
      }
      from = records.back().offset + 1;
    }
  }
  if (!found) {
    std::fprintf(stderr, "vigil log dump: no events for app '%s' in %s\n", app.c_str(),
                 data.c_str());
  }
  return exit_code;
}

}  // namespace

int RunLogCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kLogUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "stats") return Stats(rest);
  if (args[0] == "dump") return Dump(rest);
  std::fprintf(stderr, "vigil log: unknown subcommand '%s'\n\n%s", args[0].c_str(), kLogUsage);
  return 2;
}

}  // namespace vigil::cli
