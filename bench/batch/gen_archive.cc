// The batch benchmark's data: N days of one app with a given number of daily users, written
// straight into archive part files (as the archiver would after compaction: one part per hour)
// and, with --tsv, the same events as TSV on stdout for ClickHouse.
//
// Every active user has one app load, two or three network calls and, for 1 % of them, a crash
// and, for 2 %, a handled exception, spread over the day — about 3.3 events per user per day, so
// 1M daily users over 30 days is about 100M events. Users rotate through a pool 1.5× the daily
// count, so MAU is larger than DAU. Deterministic: the same flags write the same bytes.
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "archive/archive_layout.h"
#include "archive/archiver.h"
#include "archive/part_file.h"
#include "common/binary_value.h"
#include "common/flags.h"
#include "common/time_bucket.h"
#include "common/time_format.h"

namespace {

using vigil::EventType;
using vigil::archive::ArchiveRow;

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

constexpr const char* kVersions[] = {"3.0.0", "3.0.0", "3.0.0", "3.0.0", "3.0.0",
                                     "2.9.1", "2.9.1", "2.9.1", "2.8.0", "2.8.0"};
constexpr const char* kErrorTypes[] = {"java.lang.NullPointerException",
                                       "java.lang.IllegalStateException",
                                       "java.lang.OutOfMemoryError", "SIGSEGV", "SIGABRT"};
constexpr const char* kPaths[] = {"/v1/feed/", "/v1/users/", "/v1/items/", "/v1/search?q="};

std::string NetworkFields(uint64_t h) {
  std::string out;
  vigil::BinaryValueWriter w(&out);
  w.BeginObject();
  w.Key("network");
  w.BeginObject();
  w.Key("method");
  w.String(h % 4 == 3 ? "POST" : "GET");
  w.Key("url");
  w.String("https://api.example.com" + std::string(kPaths[h % 4]) + std::to_string(h % 100000));
  w.Key("status");
  w.Int(h % 50 == 0 ? 500 : 200);
  w.Key("duration_ms");
  w.Int(static_cast<int64_t>(20 + (h >> 8) % 900));
  w.Key("bytes_received");
  w.Int(static_cast<int64_t>(500 + (h >> 20) % 20000));
  w.EndObject();
  w.EndObject();
  return out;
}

std::string ErrorFields(uint64_t h) {
  std::string out;
  vigil::BinaryValueWriter w(&out);
  w.BeginObject();
  w.Key("error");
  w.BeginObject();
  w.Key("type");
  w.String(kErrorTypes[h % 5]);
  w.Key("reason");
  w.String("benchmark");
  w.EndObject();
  w.EndObject();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string archive, app = "bench";
  int64_t days = 30, dau = 1'000'000, end_day = 0;
  bool tsv = false;
  vigil::FlagSet flags(
      "gen_archive --archive DIR [--app A] [--days N] [--dau N] [--end-day MS] [--tsv]",
      "Writes N days of synthetic events of one app into archive part files under DIR, the\n"
      "last day ending at --end-day (default: today 00:00 UTC), and with --tsv the same events\n"
      "to stdout as app, day, ts, type, version, os, user (tab-separated).");
  flags.String("archive", &archive, "archive root (<data>/archive)");
  flags.String("app", &app, "app id");
  flags.Int("days", &days, "days of history");
  flags.Int("dau", &dau, "daily active users");
  flags.Int("end-day", &end_day, "end of the last day, epoch ms (default: today 00:00 UTC)");
  flags.Bool("tsv", &tsv, "also print every event as TSV on stdout");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (std::optional<int> code = flags.ParseCommandLine(args, "gen_archive")) return *code;
  if (archive.empty()) {
    std::fprintf(stderr, "gen_archive: --archive is required\n");
    return 2;
  }
  if (end_day == 0) {
    end_day = vigil::BucketStart(static_cast<int64_t>(std::time(nullptr)) * 1000,
                                 vigil::Granularity::kDay);
  }
  const uint64_t pool = static_cast<uint64_t>(dau) * 3 / 2;
  std::string empty_context;
  {
    vigil::BinaryValueWriter w(&empty_context);
    w.BeginObject();
    w.EndObject();
  }
  std::string line;
  std::vector<char> out_buf;
  uint64_t total = 0, seq = 0;
  for (int64_t d = 0; d < days; ++d) {
    const int64_t day = end_day - (days - d) * vigil::kDayMs;
    const std::string day_text = vigil::FormatDay(day);
    std::vector<std::vector<ArchiveRow>> hours(24);
    for (auto& h : hours) h.reserve(static_cast<size_t>(dau / 24 * 4));
    auto add = [&](uint64_t user, uint64_t h, EventType type, std::string fields) {
      ArchiveRow r;
      char id[32];
      std::snprintf(id, sizeof(id), "e%013" PRIx64, seq++);
      r.id = id;
      r.ts_ms = day + static_cast<int64_t>(h % static_cast<uint64_t>(vigil::kDayMs));
      r.type = type;
      r.version = kVersions[user % 10];
      r.os = user % 2 == 0 ? "android" : "ios";
      char u[32];
      std::snprintf(u, sizeof(u), "user-%07" PRIu64, user);
      r.user = u;
      r.fields = std::move(fields);
      r.context = empty_context;
      if (tsv) {
        line.clear();
        line.append(app).append(1, '\t').append(day_text).append(1, '\t');
        line.append(std::to_string(r.ts_ms)).append(1, '\t');
        line.append(std::to_string(static_cast<int>(type))).append(1, '\t');
        line.append(r.version).append(1, '\t').append(r.os).append(1, '\t');
        line.append(r.user).append(1, '\n');
        out_buf.insert(out_buf.end(), line.begin(), line.end());
        if (out_buf.size() > (1 << 20)) {
          std::fwrite(out_buf.data(), 1, out_buf.size(), stdout);
          out_buf.clear();
        }
      }
      hours[static_cast<size_t>((r.ts_ms - day) / vigil::kHourMs)].push_back(std::move(r));
    };
    for (int64_t i = 0; i < dau; ++i) {
      const uint64_t user =
          (static_cast<uint64_t>(i) + static_cast<uint64_t>(d) * pool / 30) % pool;
      uint64_t h = Mix(user * 1000003 + static_cast<uint64_t>(d));
      add(user, h, EventType::kSessionStart, empty_context);
      const int calls = 2 + (h % 10 < 3 ? 1 : 0);
      for (int c = 0; c < calls; ++c) {
        h = Mix(h);
        add(user, h, EventType::kNetwork, NetworkFields(h));
      }
      h = Mix(h);
      if (h % 100 == 0) add(user, Mix(h), EventType::kCrash, ErrorFields(h >> 8));
      if (h % 100 == 1 || h % 100 == 2) {
        add(user, Mix(h), EventType::kHandledException, ErrorFields(h >> 8));
      }
    }
    for (int hr = 0; hr < 24; ++hr) {
      const int64_t hour_ms = day + hr * vigil::kHourMs;
      std::filesystem::create_directories(vigil::archive::HourDir(archive, app, hour_ms));
      vigil::archive::PartInfo info;
      info.app = app;
      info.hour_ms = hour_ms;
      total += hours[static_cast<size_t>(hr)].size();
      // Each hour's part is what compaction writes (its LZ4HC level for the scan columns), but
      // with zstd's level 1 for the bodies, which a batch run never reads: generation is faster.
      vigil::archive::PartCompression compression =
          vigil::archive::ArchiverOptions().compact_compression;
      compression.zstd_level = 1;
      vigil::Status st =
          vigil::archive::WritePart(vigil::archive::PartPath(archive, app, hour_ms, 0, 0),
                                    hours[static_cast<size_t>(hr)], &info, compression);
      if (!st.ok()) {
        std::fprintf(stderr, "gen_archive: %s\n", st.ToString().c_str());
        return 1;
      }
    }
    std::fprintf(stderr, "gen_archive: %s done, %" PRIu64 " events so far\n", day_text.c_str(),
                 total);
  }
  std::fwrite(out_buf.data(), 1, out_buf.size(), stdout);
  std::fflush(stdout);
  std::fprintf(stderr, "gen_archive: %" PRIu64 " events over %" PRId64 " days\n", total, days);
  return 0;
}
