// Parser for Apple `.ips` crash reports (iOS 15 / macOS 12 and later) into the common
// CrashReport. The format is described in docs/formats.md §4.2.
//
// An .ips file is two JSON documents: a one-line header (bug_type, app_name, slice_uuid, ...)
// and, after the first newline, the body. Both are parsed with the simdjson DOM API; integers
// are read as uint64 (registers use all 64 bits; a double would lose them). bug_type "309" is a
// crash with a JSON body; legacy "109" carries the classic text report as its body, which is
// handed to ParseAppleCrashReport. Every other bug_type (stackshots, panics, ...) is Unsupported.
//
// What ends up where:
// - metadata: every scalar of the header and every top-level scalar of the body, plus the
//   scalars of the body's first-level objects as "object.key" ("exception.signal",
//   "sharedCache.base"); numbers in decimal, booleans as true/false. Body values win over
//   header values of the same key. "asiBacktraces" (text) is joined with '\n'.
// - incident_identifier: body "incident" (else header "incident_id"), lower-cased UUID.
// - timestamp: body "captureTime" (else header "timestamp") as RFC 3339 UTC, see
//   text::NormalizeTimestamp. code_type: "cpuType". os_version: header "os_version" (else body
//   osVersion.train + " (" + build + ")"). app_version: header "app_version" plus
//   " (build_version)" when given.
// - exception_type: exception.type; exception_reason: exception.subtype, else .message, else
//   .codes. application_specific_information: the strings of "asi", one per line.
// - threads: in order; id, name ("name", else "queue"), crashed ("triggered" or the index in
//   "faultingThread", which is an index into threads, not a thread id); registers from
//   threadState: {"value": N} members by name, arrays as name+index ("x0".."x28").
// - frames: instruction_addr = usedImages[imageIndex].base + imageOffset; module = that image's
//   name; symbol / symbol_offset from symbol / symbolLocation; sourceFile / sourceLine;
//   inlined = "inline". image_index points into images.
// - images: usedImages without the placeholders (source "A" or a zero uuid with no name); frames
//   of a placeholder keep their address and have no image_index. in_app when the image is the
//   main binary (header slice_uuid, or body procPath).
// - extra_stacks: "Last Exception Backtrace" from lastExceptionBacktrace.
//
// Errors (never crashes; no exceptions):
// - TooLarge: input over kMaxAppleIpsReportBytes, or more than kMaxAppleIpsFrames frames.
// - InvalidArgument: line 1 is not a JSON object, the body is missing or not a JSON object, or
//   bug_type is absent.
// - Unsupported: a bug_type other than 309 and 109.
// Members of the wrong type inside a valid body are skipped.
//
// Thread-safe: no shared state (each call uses its own simdjson parser).
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"
#include "process/crash_report.h"

namespace vigil::process {

// Real .ips files are tens to a few hundred KiB.
inline constexpr size_t kMaxAppleIpsReportBytes = 4 << 20;
// Frames across all threads and stacks.
inline constexpr size_t kMaxAppleIpsFrames = 65536;

[[nodiscard]] Result<CrashReport> ParseAppleIpsReport(std::string_view text);

}  // namespace vigil::process
