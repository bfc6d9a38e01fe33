// Chunked symbol uploads: one file per upload, written at the offsets the chunks name, and a
// state file beside it that lets the upload go on after a restart.
#include "ingest/symbol_uploads.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/file_util.h"
#include "common/json_writer.h"
#include "common/secret.h"
#include "symbols/symbol_store.h"

namespace vigil::ingest {

namespace {

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

std::string SymbolUploadState::ToJson() const {
  std::string out;
  JsonWriter(&out)
      .BeginObject()
      .Key("upload_id")
      .String(id)
      .Key("size")
      .Uint(size)
      .Key("received")
      .Uint(received)
      .Key("chunk_bytes")
      .Uint(SymbolUploads::kChunkBytes)
      .EndObject();
  return out;
}

namespace {

constexpr std::string_view kPartSuffix = ".part";
constexpr std::string_view kStateSuffix = ".state";
// The state file's layout (docs/symbols.md); a state of another version is not loaded.
constexpr int64_t kStateVersion = 1;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Result<std::unique_ptr<SymbolUploads>> SymbolUploads::Open(std::string dir, Clock* clock) {
  if (Status st = MakeDirs(dir); !st.ok()) return st;
  std::unique_ptr<SymbolUploads> uploads(new SymbolUploads(std::move(dir), clock));
  if (Status st = uploads->Load(); !st.ok()) return st;
  return uploads;
}

Status SymbolUploads::Load() {
  Result<std::vector<std::string>> names = ListDir(dir_);
  if (!names.ok()) return names.status();
  simdjson::dom::parser parser;
  for (const std::string& name : *names) {
    if (!EndsWith(name, kStateSuffix)) continue;
    const std::string id = name.substr(0, name.size() - kStateSuffix.size());
    Result<std::string> text = ReadFile(dir_ + "/" + name);
    Upload u;
    std::string_view app;
    simdjson::dom::element doc;
    struct stat part;
    int64_t version = 0;
    const bool usable =
        text.ok() && text->size() < 4096 && !parser.parse(*text).get(doc) &&
        !doc["version"].get_int64().get(version) && version == kStateVersion &&
        !doc["app"].get_string().get(app) && !doc["size"].get_uint64().get(u.size) &&
        !doc["received"].get_uint64().get(u.received) &&
        !doc["touched_ms"].get_int64().get(u.touched_ms) && !app.empty() && u.size > 0 &&
        u.size <= symbols::kMaxSymbolFileBytes && u.received <= u.size &&
        ::stat(PathOf(id).c_str(), &part) == 0 && static_cast<uint64_t>(part.st_size) >= u.received;
    if (!usable) {
      std::fprintf(stderr, "vigil: dropping symbol upload %s: its files in %s are incomplete\n",
                   id.c_str(), dir_.c_str());
      continue;  // its files go below, with the other leftovers
    }
    u.app = app;
    uploads_[id] = std::move(u);
  }
  // Everything else is left over: the part of an upload whose state is gone or unusable, a
  // state file half written (.tmp), an upload removed while its chunk was being saved.
  for (const std::string& name : *names) {
    std::string_view id = name;
    if (EndsWith(name, kStateSuffix)) {
      id.remove_suffix(kStateSuffix.size());
    } else if (EndsWith(name, kPartSuffix)) {
      id.remove_suffix(kPartSuffix.size());
    } else {
      id = {};
    }
    if (id.empty() || !uploads_.contains(id)) ::unlink((dir_ + "/" + name).c_str());
  }
  ExpireIdle();  // what expired while the server was down, before PendingBytes counts it
  return Status::Ok();
}

std::string SymbolUploads::PathOf(std::string_view id) const {
  return dir_ + "/" + std::string(id) + std::string(kPartSuffix);
}

std::string SymbolUploads::StatePathOf(std::string_view id) const {
  return dir_ + "/" + std::string(id) + std::string(kStateSuffix);
}

std::string SymbolUploads::StateJson(const Upload& u) {
  std::string out;
  JsonWriter(&out)
      .BeginObject()
      .Key("version")
      .Int(kStateVersion)
      .Key("app")
      .String(u.app)
      .Key("size")
      .Uint(u.size)
      .Key("received")
      .Uint(u.received)
      .Key("touched_ms")
      .Int(u.touched_ms)
      .EndObject();
  out.push_back('\n');
  return out;
}

SymbolUploads::Upload* SymbolUploads::FindLocked(std::string_view app, std::string_view id) {
  auto it = uploads_.find(id);
  return it == uploads_.end() || it->second.app != app ? nullptr : &it->second;
}

void SymbolUploads::RemoveLocked(std::map<std::string, Upload, std::less<>>::iterator it) {
  // The state first: a part without one is a leftover that the next start deletes.
  ::unlink(StatePathOf(it->first).c_str());
  ::unlink(PathOf(it->first).c_str());
  uploads_.erase(it);
}

namespace {

Status NotFoundUpload(std::string_view id) {
  return Status::NotFound("no symbol upload " + std::string(id) +
                          " for this app: it was finished, deleted or idle for 24 h; start a new "
                          "upload");
}

}  // namespace

Status SymbolUploads::CheckSize(uint64_t size) {
  if (size == 0) {
    return Status::InvalidArgument("size must be the symbol file's size in bytes, at least 1");
  }
  if (size > symbols::kMaxSymbolFileBytes) {
    return Status::TooLarge("symbol file is over " + MiB(symbols::kMaxSymbolFileBytes));
  }
  return Status::Ok();
}

Result<SymbolUploadState> SymbolUploads::Create(std::string_view app, uint64_t size) {
  VIGIL_RETURN_IF_ERROR(CheckSize(size));
  ExpireIdle();
  std::string id = RandomToken("up_", 16);
  Upload upload{std::string(app), size, 0, clock_->NowMs(), false, false};
  {
    // The slot is taken before any file is made, so that a refused upload costs no disk.
    std::lock_guard<std::mutex> lock(mu_);
    size_t open = 0;
    for (const auto& [unused, u] : uploads_) open += u.app == app ? 1 : 0;
    if (open >= kMaxOpenPerApp) {
      return Status::Unavailable(std::to_string(open) +
                                 " symbol uploads of this app are open; finish or DELETE one, "
                                 "or wait for idle ones to expire (24 h)");
    }
    upload.writing = true;  // keeps the others off its files until they exist
    uploads_[id] = upload;
    upload.writing = false;
  }
  // The part exists from the start, so that a finish of a complete upload always finds it. The
  // state is written without a sync (this runs on an event loop): an upload that received
  // nothing yet costs its client nothing if a machine crash loses it; each chunk syncs both.
  Status st;
  const int fd = ::open(PathOf(id).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    st = Status::FromErrno("create " + PathOf(id), errno);
  } else {
    ::close(fd);
    st = WriteFile(StatePathOf(id), StateJson(upload));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = uploads_.find(id);
  if (!st.ok()) {
    RemoveLocked(it);
    return st;
  }
  it->second.writing = false;
  return SymbolUploadState{id, size, 0};
}

Result<SymbolUploadState> SymbolUploads::Get(std::string_view app, std::string_view id) {
  ExpireIdle();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = uploads_.find(id);
  if (it == uploads_.end() || it->second.app != app) return NotFoundUpload(id);
  return SymbolUploadState{it->first, it->second.size, it->second.received};
}

Status SymbolUploads::ChunkFitsLocked(const Upload* u, std::string_view id, uint64_t offset,
                                      size_t size) const {
  if (size == 0) {
    return Status::InvalidArgument("empty chunk: send the file's bytes from ?offset= as the body");
  }
  if (size > kChunkBytes) {
    return Status::TooLarge("a chunk is at most " + std::to_string(kChunkBytes) +
                            " bytes (the upload's chunk_bytes)");
  }
  if (u == nullptr) return NotFoundUpload(id);
  if (u->finishing) return Status::AlreadyExists("this upload is being finished");
  if (offset > u->received) {
    return Status::AlreadyExists(
        "offset " + std::to_string(offset) + " is past the " + std::to_string(u->received) +
        " bytes received: send the chunk at offset " + std::to_string(u->received));
  }
  if (size > u->size - offset) {
    return Status::TooLarge("the chunk ends at byte " + std::to_string(offset + size) +
                            ", past the upload's size of " + std::to_string(u->size));
  }
  return Status::Ok();
}

Status SymbolUploads::CheckChunk(std::string_view app, std::string_view id, uint64_t offset,
                                 size_t size) {
  ExpireIdle();
  std::lock_guard<std::mutex> lock(mu_);
  return ChunkFitsLocked(FindLocked(app, id), id, offset, size);
}

Result<SymbolUploadState> SymbolUploads::Write(std::string_view app, std::string_view id,
                                               uint64_t offset, std::string_view data) {
  ExpireIdle();
  Upload after;  // the upload once this chunk is in, as its state file will say
  {
    std::lock_guard<std::mutex> lock(mu_);
    Upload* u = FindLocked(app, id);
    VIGIL_RETURN_IF_ERROR(ChunkFitsLocked(u, id, offset, data.size()));
    if (u->writing) {
      return Status::AlreadyExists(
          "another chunk of this upload is being written; send chunks one at a time");
    }
    u->writing = true;  // keeps Remove, ExpireIdle and other writes away from the files
    after = *u;
  }
  after.received = std::max(after.received, offset + data.size());
  after.touched_ms = clock_->NowMs();
  Status st;
  const int fd = ::open(PathOf(id).c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    st = Status::FromErrno("open " + PathOf(id), errno);
  } else {
    size_t done = 0;
    while (done < data.size() && st.ok()) {
      ssize_t n =
          ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        st = errno == ENOSPC || errno == EDQUOT
                 ? Status::Unavailable("the disk holding the data directory is full")
                 : Status::IoError("write " + PathOf(id) + ": " + std::strerror(errno));
      } else {
        done += static_cast<size_t>(n);
      }
    }
    // The chunk is answered as received: it and the state saying so survive a crash.
    if (st.ok() && ::fdatasync(fd) != 0) st = Status::FromErrno("fdatasync " + PathOf(id), errno);
    ::close(fd);
  }
  if (st.ok()) st = WriteFileAtomically(StatePathOf(id), StateJson(after), 0600);
  std::lock_guard<std::mutex> lock(mu_);
  Upload* u = FindLocked(app, id);  // still there: nothing removes an upload being written
  u->writing = false;
  if (!st.ok()) return st;
  u->received = after.received;
  u->touched_ms = after.touched_ms;
  return SymbolUploadState{std::string(id), u->size, u->received};
}

Result<std::string> SymbolUploads::BeginFinish(std::string_view app, std::string_view id) {
  ExpireIdle();
  std::lock_guard<std::mutex> lock(mu_);
  Upload* u = FindLocked(app, id);
  if (u == nullptr) return NotFoundUpload(id);
  if (u->finishing) return Status::AlreadyExists("this upload is already being finished");
  if (u->writing) {
    return Status::AlreadyExists(
        "a chunk of this upload is still being written; finish after "
        "its answer");
  }
  if (u->received < u->size) {
    return Status::AlreadyExists("the upload has " + std::to_string(u->received) + " of its " +
                                 std::to_string(u->size) + " bytes: send the rest, from offset " +
                                 std::to_string(u->received) + ", then finish");
  }
  u->finishing = true;
  return PathOf(id);
}

void SymbolUploads::EndFinish(std::string_view app, std::string_view id, bool keep, Answer answer) {
  const int64_t now = clock_->NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = uploads_.find(id);
  if (it == uploads_.end() || it->second.app != app) return;
  it->second.finishing = false;
  it->second.touched_ms = now;
  if (keep) return;
  RemoveLocked(it);
  if (finished_order_.size() >= kMaxFinishedKept) DropOldestFinishedLocked();
  finished_order_.emplace_back(id);
  finished_.insert_or_assign(std::string(id), Finished{std::string(app), std::move(answer), now});
}

void SymbolUploads::DropOldestFinishedLocked() {
  finished_.erase(finished_order_.front());
  finished_order_.pop_front();
}

std::optional<SymbolUploads::Answer> SymbolUploads::FinishedAnswer(std::string_view app,
                                                                   std::string_view id) {
  ExpireIdle();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = finished_.find(id);
  if (it == finished_.end() || it->second.app != app) return std::nullopt;
  return it->second.answer;
}

Status SymbolUploads::Remove(std::string_view app, std::string_view id) {
  ExpireIdle();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = uploads_.find(id);
  if (it == uploads_.end() || it->second.app != app) return NotFoundUpload(id);
  if (it->second.finishing || it->second.writing) {
    return Status::AlreadyExists(
        "this upload is being written or finished; delete it after "
        "that answer");
  }
  RemoveLocked(it);
  return Status::Ok();
}

size_t SymbolUploads::ExpireIdle() {
  const int64_t now = clock_->NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  size_t expired = 0;
  for (auto it = uploads_.begin(); it != uploads_.end();) {
    const Upload& u = it->second;
    if (!u.writing && !u.finishing && now - u.touched_ms >= kIdleExpiryMs) {
      RemoveLocked(it++);
      ++expired;
    } else {
      ++it;
    }
  }
  // Finished answers, oldest first.
  while (!finished_order_.empty() &&
         now - finished_.find(finished_order_.front())->second.finished_ms >= kIdleExpiryMs) {
    DropOldestFinishedLocked();
  }
  return expired;
}

uint64_t SymbolUploads::PendingBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t bytes = 0;
  for (const auto& [unused, u] : uploads_) bytes += u.size - u.received;
  return bytes;
}

}  // namespace vigil::ingest
