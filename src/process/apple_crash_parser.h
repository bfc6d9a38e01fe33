// Parser for classic Apple crash reports (the `.crash` text of iOS/macOS, also PLCrashReporter's
// Apple-format output) into the common CrashReport. The format is described in
// docs/formats.md §4.1.
//
// The report is read line by line in one pass with a small state machine: header `Key: value`
// lines, then sections (Application Specific Information, Last Exception Backtrace, `Thread N`
// blocks, thread state registers, Binary Images) that each end at a blank line or at the first
// line that does not fit them, so reports without blank lines (PLCrashReporter) parse too. Lines
// the parser does not know are skipped: a valid report with an unknown section still parses.
// After the pass, frames are attached to Binary Images by address range (not by name).
//
// What ends up where:
// - metadata: every header `Key: value` line before the first thread/Binary Images section,
//   verbatim (value trimmed); a repeated key keeps all values joined by '\n'. Keys that also
//   fill a field below stay in metadata too.
// - incident_identifier: `Incident Identifier`, a UUID lower-cased (other text kept as is).
// - timestamp: `Date/Time` as RFC 3339 UTC (text::NormalizeTimestamp; fraction digits kept as
//   printed, 0 to 9 of them); verbatim if it has another shape.
// - code_type: `Code Type` without a " (Native)"-style suffix; os_version: `OS Version`;
//   app_version: `Version`; exception_type: `Exception Type` without " (SIGNAL)";
//   exception_reason: `Exception Subtype`, else `Exception Message`, else the first
//   `Exception Codes`.
// - threads: in report order; id = N of `Thread N`, name = the heading's thread name or else its
//   dispatch queue (also from a `Thread N name:` line), crashed = "Crashed" in the heading. When
//   no heading says Crashed, `Crashed Thread: N` / `Triggered by Thread: N` marks thread N.
//   crashed_thread = index of the first crashed thread.
// - frames: instruction_addr absolute; module as printed ("???" becomes empty); symbol and
//   symbol_offset from "symbol + N"; a "0xLOAD + N" location leaves symbol empty; filename and
//   lineno from "(file:line)"; image_index when an image contains the address.
// - registers: "Thread N crashed with ... Thread State" pairs, attached to thread N.
// - images: one per Binary Images line; size = end - start + 1 (the printed end is inclusive),
//   in_app = the "+" marker, arch/version when printed ("(*)" means no version), uuid
//   lower-case dashed. `???` placeholder lines are dropped.
// - extra_stacks: "Last Exception Backtrace" when present (frame lines or the "(0x.. 0x..)" list).
//
// Errors (the parser never crashes and runs in linear time):
// - TooLarge: input over kMaxAppleCrashReportBytes or more than kMaxAppleCrashFrames frames.
// - InvalidArgument: a NUL byte (binary data), or nothing of a crash report (no `Thread N` block
//   and no Binary Images line); the message names the first line it could not make sense of.
//
// Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"
#include "process/crash_report.h"

namespace vigil::process {

// Real reports are tens to hundreds of KiB; the cap bounds memory and time per report.
inline constexpr size_t kMaxAppleCrashReportBytes = 4 << 20;
// Frames across all threads and stacks (real reports: a few thousand at most).
inline constexpr size_t kMaxAppleCrashFrames = 65536;

[[nodiscard]] Result<CrashReport> ParseAppleCrashReport(std::string_view text);

}  // namespace vigil::process
