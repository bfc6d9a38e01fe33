// Small POSIX file helpers with Status errors: whole-file reads and writes, atomic replacement,
// directory sync and removal, read-only mappings.
//
// WriteFileAtomically is how every small piece of state (apps, consumer offsets) is persisted:
// write a temp file, fsync it, rename it over the old one, fsync the directory. A crash leaves
// either the old or the new content, never a mix.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil {

Result<std::string> ReadFile(const std::string& path);
// Creates or truncates `path` and writes `contents`; not durable (no fsync): for scratch files.
Status WriteFile(const std::string& path, std::string_view contents, int mode = 0600);
// `mode` applies to a newly created file (e.g. 0600 for secrets). With `between_writes`, the
// contents go in pieces of kAtomicWritePiece bytes and it is called between them (a background
// writer of a big file lets others have the CPU: common/ingest_pause.h).
inline constexpr size_t kAtomicWritePiece = 256 << 10;
Status WriteFileAtomically(const std::string& path, std::string_view contents, int mode = 0644,
                           const std::function<void()>& between_writes = {});
// fsync a directory so that entries created, renamed or removed in it are durable.
Status SyncDir(const std::string& dir);
// mkdir -p.
Status MakeDirs(const std::string& dir);
// Names of the entries of `dir` (no "." or ".."), sorted. NotFound if `dir` is missing.
Result<std::vector<std::string>> ListDir(const std::string& dir);
bool FileExists(const std::string& path);
// Bytes an unprivileged writer may still use on the filesystem holding `path` (statvfs).
Result<uint64_t> FreeDiskBytes(const std::string& path);
// rm -r: `dir` and everything under it. Ok when `dir` does not exist.
Status RemoveTree(const std::string& dir);

// A whole file mapped read-only (MAP_SHARED); the caller munmaps `data`, `size` bytes.
struct MappedFile {
  void* data = nullptr;
  size_t size = 0;
};
// Corruption "<path>: too short to be <what>" when the file has fewer than `min_size` bytes.
Result<MappedFile> MapFileReadOnly(const std::string& path, size_t min_size, std::string_view what);

}  // namespace vigil
