// Chunked symbol uploads: one file per upload, written at the offsets the chunks name.
#include "ingest/symbol_uploads.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Result<std::unique_ptr<SymbolUploads>> SymbolUploads::Open(std::string dir, Clock* clock) {
  if (Status st = RemoveTree(dir); !st.ok()) return st;
  if (Status st = MakeDirs(dir); !st.ok()) return st;
  return std::unique_ptr<SymbolUploads>(new SymbolUploads(std::move(dir), clock));
}

std::string SymbolUploads::PathOf(std::string_view id) const {
  return dir_ + "/" + std::string(id) + ".part";
}

SymbolUploads::Upload* SymbolUploads::FindLocked(std::string_view app, std::string_view id) {
  auto it = uploads_.find(id);
  return it == uploads_.end() || it->second.app != app ? nullptr : &it->second;
}

void SymbolUploads::RemoveLocked(std::map<std::string, Upload, std::less<>>::iterator it) {
  ::unlink(PathOf(it->first).c_str());
  uploads_.erase(it);
}

namespace {

Status NotFoundUpload(std::string_view id) {
  return Status::NotFound("no symbol upload " + std::string(id) +
                          " for this app: it was finished, deleted, idle for 24 h, or the "
                          "server restarted; start a new upload");
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
  // The file exists from the start, so that a finish of a complete upload always finds it.
  const int fd = ::open(PathOf(id).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("create " + PathOf(id) + ": " + std::strerror(errno));
  ::close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  size_t open = 0;
  for (const auto& [unused, u] : uploads_) open += u.app == app ? 1 : 0;
  if (open >= kMaxOpenPerApp) {
    ::unlink(PathOf(id).c_str());
    return Status::Unavailable(std::to_string(open) +
                               " symbol uploads of this app are open; finish or DELETE one, "
                               "or wait for idle ones to expire (24 h)");
  }
  uploads_[id] = Upload{std::string(app), size, 0, clock_->NowMs(), false, false};
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    Upload* u = FindLocked(app, id);
    VIGIL_RETURN_IF_ERROR(ChunkFitsLocked(u, id, offset, data.size()));
    if (u->writing) {
      return Status::AlreadyExists(
          "another chunk of this upload is being written; send chunks one at a time");
    }
    u->writing = true;  // keeps Remove, ExpireIdle and other writes away from the file
  }
  Status st;
  const int fd = ::open(PathOf(id).c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    st = Status::IoError("open " + PathOf(id) + ": " + std::strerror(errno));
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
    ::close(fd);
  }
  std::lock_guard<std::mutex> lock(mu_);
  Upload* u = FindLocked(app, id);  // still there: nothing removes an upload being written
  u->writing = false;
  if (!st.ok()) return st;
  u->received = std::max(u->received, offset + data.size());
  u->touched_ms = clock_->NowMs();
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

void SymbolUploads::EndFinish(std::string_view app, std::string_view id, bool keep) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = uploads_.find(id);
  if (it == uploads_.end() || it->second.app != app) return;
  it->second.finishing = false;
  it->second.touched_ms = clock_->NowMs();
  if (!keep) RemoveLocked(it);
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
  return expired;
}

uint64_t SymbolUploads::PendingBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t bytes = 0;
  for (const auto& [unused, u] : uploads_) bytes += u.size - u.received;
  return bytes;
}

}  // namespace vigil::ingest
