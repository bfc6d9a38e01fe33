// ChildConverter: converts object files (ELF, Mach-O) to symcaches in a child process, so that a
// malformed upload which crashes, hangs or exhausts memory in LLVM's object and DWARF readers
// takes down only the child, never the server.
//
// Fuzzing found ELF files that crash LLVM 14 inside its DWARF reader (SEGV, not a returned
// error; tests/fuzz/known_crashes). Vigil cannot fix LLVM, so the server re-executes its own
// binary as `vigil symbols convert` on each uploaded object file, with CPU and memory limits and
// a wall-clock timeout, and reads the symcaches it writes back.
//
// Contract: Convert writes `data` under `scratch_dir` (one folder per call, removed afterwards),
// runs `argv_prefix... --out DIR [--name NAME] --cpu-seconds S --memory-mb M INPUT`, waits
// at most `timeout_ms` and returns what it wrote:
//   - the child's "broken file" error (exit 4): InvalidArgument with its last stderr line;
//   - killed by a signal (crash, CPU limit), any other exit code (a sanitizer's report), timed
//     out, or out of memory (exit 3): InvalidArgument naming what happened and what to do;
//   - the child could not read or write its files (exit 5): IoError;
//   - output that is not a valid symcache: Internal.
// Thread-safety: Convert may be called from any number of threads at once; each call blocks its
// thread for the child's lifetime.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "symbols/symcache_builder.h"

namespace vigil::symbols {

class ChildConverter {
 public:
  struct Limits {
    int64_t timeout_ms = 10 * 60 * 1000;  // wall clock, then SIGKILL
    int64_t cpu_seconds = 10 * 60;        // RLIMIT_CPU in the child
    int64_t memory_mb = 16 * 1024;        // RLIMIT_AS in the child (ignored under ASan)
  };

  // `argv_prefix` is the program and the arguments before the flags above, normally
  // {"/proc/self/exe", "symbols", "convert"}. Removes what earlier runs left in `scratch_dir`:
  // give each converter its own.
  ChildConverter(std::vector<std::string> argv_prefix, std::string scratch_dir, Limits limits);

  Result<std::vector<BuiltSymCache>> Convert(std::string_view data, std::string_view name) const;

  // The prefix that re-executes the running binary's converter.
  static std::vector<std::string> SelfArgv();

 private:
  const std::vector<std::string> argv_prefix_;
  const std::string scratch_dir_;
  const Limits limits_;
};

}  // namespace vigil::symbols
