// Parser for Android native crash tombstones (debuggerd / crash_dump text, also as captured by
// logcat) into the common CrashReport. The format is described in docs/formats.md §5.
//
// One pass over the lines. A logcat prefix ("F DEBUG   : ", "F/DEBUG ( 1234): ", with or
// without the date and pid/tid columns) is stripped from each line first; logcat lines of other
// tags than DEBUG and crash_dump* (other processes' logs) are ignored. A "*** *** ***" line
// starts a tombstone, so a text holding several (a logcat dump, ndk-stack input) gives several
// reports; frames or a "pid:" line before any marker start one too. Sections this parser does
// not use (stack:, memory near ..., memory map, open files, log main, ...) are skipped up to the
// next "--- --- ---" thread separator or marker.
//
// What ends up where, per tombstone:
// - threads[0] is the crashing thread (id = tid, name = the thread name, crashed = true,
//   crashed_thread = 0); the threads after "--- --- ---" follow. Registers come from the
//   "x0  0000..." lines; frames from "#NN pc <hex> <mapping> ..." lines.
// - frames: instruction_addr = the relative pc with addr_is_relative = true (the unwinder already
//   adjusted caller pcs: do not subtract 1 again); module = the mapping as printed
//   ("/system/lib64/libc.so", "base.apk!libfoo.so" for a library stored in an APK,
//   "[anon:...]"); module_offset = "(offset 0x...)" (where the library starts in the APK);
//   symbol + symbol_offset = "(symbol+N)" (the symbol may contain spaces and parentheses: the
//   group ends at the last "+N)"); build_id = "(BuildId: hex)".
// - extra_stacks: the "#N 0x... (path+0xoff)" stacks of a HWASan/ASan report inside the abort
//   message, titled by the line before each stack ("allocated here:"); their frames have
//   instruction_addr = the module offset, addr_is_relative = true, when a (path+0xoff) is given.
// - metadata: the header "Key: value" lines verbatim without quotes ("Build fingerprint", "ABI",
//   "Revision", "Timestamp", "uid", "Cause", ...) plus "pid", "tid", "thread name", "process"
//   (the >>> name <<<), "signal" (the signal line after "signal ").
// - os_version = Build fingerprint; code_type = ABI; timestamp = Timestamp as RFC 3339 UTC;
//   exception_type = the signal name ("SIGSEGV"); application_specific_information = the abort
//   message (all its lines); exception_reason = its first line, else the signal line's
//   "code ..., fault addr ..." part.
// - images stay empty: the memory map is not read.
//
// Errors (never crashes; linear time):
// - TooLarge: input over kMaxTombstoneBytes or more than kMaxTombstoneFrames frames in total.
// - InvalidArgument: a NUL byte, or no tombstone at all (no marker, "pid:" line or frame line);
//   the message names the first line. Unknown lines inside a tombstone are skipped.
//
// Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "process/crash_report.h"

namespace vigil::process {

// Tombstones with memory maps and logs reach a few hundred KiB.
inline constexpr size_t kMaxTombstoneBytes = 4 << 20;
// Frames across all tombstones, threads and stacks of one input.
inline constexpr size_t kMaxTombstoneFrames = 65536;

// Every tombstone in `text`, in order (at least one on success).
[[nodiscard]] Result<std::vector<CrashReport>> ParseTombstones(std::string_view text);

// `line` without a logcat prefix ("01-02 03:04:05.678  123  123 F DEBUG   : ",
// "F/DEBUG   (  123): ", "F/DEBUG: ", "DEBUG   : "); `line` itself when it has none.
std::string_view StripLogcatPrefix(std::string_view line);

}  // namespace vigil::process
