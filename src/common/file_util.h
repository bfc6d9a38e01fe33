// Small POSIX file helpers with Status errors: whole-file reads, atomic replacement, directory
// sync.
//
// WriteFileAtomically is how every small piece of state (apps, consumer offsets) is persisted:
// write a temp file, fsync it, rename it over the old one, fsync the directory. A crash leaves
// either the old or the new content, never a mix.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace vigil {

Result<std::string> ReadFile(const std::string& path);
// `mode` applies to a newly created file (e.g. 0600 for secrets).
Status WriteFileAtomically(const std::string& path, std::string_view contents, int mode = 0644);
// fsync a directory so that entries created, renamed or removed in it are durable.
Status SyncDir(const std::string& dir);
// mkdir -p.
Status MakeDirs(const std::string& dir);
// Names of the entries of `dir` (no "." or ".."), sorted. NotFound if `dir` is missing.
Result<std::vector<std::string>> ListDir(const std::string& dir);
bool FileExists(const std::string& path);

}  // namespace vigil
