// Apple .ips (JSON) → CrashReport. See apple_ips_parser.h and docs/formats.md §4.2.
#include "process/apple_ips_parser.h"

#include <simdjson.h>

#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "process/apple_crash_parser.h"
#include "process/report_text.h"

namespace vigil::process {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kWhat = "apple ips report";
constexpr std::string_view kZeroUuid = "00000000-0000-0000-0000-000000000000";

std::string_view Str(dom::object o, std::string_view key) {
  std::string_view s;
  if (o.at_key(key).get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

std::optional<uint64_t> Uint(dom::object o, std::string_view key) {
  uint64_t v;
  if (o.at_key(key).get_uint64().get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

bool Bool(dom::object o, std::string_view key) {
  bool b = false;
  if (o.at_key(key).get_bool().get(b) != simdjson::SUCCESS) return false;
  return b;
}

// A scalar as metadata text; false for arrays, objects and null.
bool ScalarText(dom::element e, std::string* out) {
  switch (e.type()) {
    case dom::element_type::STRING: {
      std::string_view s;
      if (e.get_string().get(s) != simdjson::SUCCESS) return false;
      out->assign(s);
      return true;
    }
    case dom::element_type::INT64: {
      int64_t v;
      if (e.get_int64().get(v) != simdjson::SUCCESS) return false;
      *out = std::to_string(v);
      return true;
    }
    case dom::element_type::UINT64: {
      uint64_t v;
      if (e.get_uint64().get(v) != simdjson::SUCCESS) return false;
      *out = std::to_string(v);
      return true;
    }
    case dom::element_type::DOUBLE: {
      double v;
      if (e.get_double().get(v) != simdjson::SUCCESS) return false;
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
      if (ec != std::errc()) return false;
      out->assign(buf, end);
      return true;
    }
    case dom::element_type::BOOL: {
      bool b;
      if (e.get_bool().get(b) != simdjson::SUCCESS) return false;
      *out = b ? "true" : "false";
      return true;
    }
    default:
      return false;
  }
}

// bug_type is a string ("309") in every known file; accept a number too.
std::optional<std::string> BugType(dom::object o) {
  std::string s;
  dom::element e;
  if (o.at_key("bug_type").get(e) != simdjson::SUCCESS || !ScalarText(e, &s)) return std::nullopt;
  return s;
}

// What a frame needs from usedImages[i].
struct ImageRef {
  uint64_t base = 0;
  std::optional<int> index;  // into CrashReport::images; none for placeholders
  std::string name;
};

class BodyParser {
 public:
  BodyParser(CrashReport* report, std::string_view slice_uuid)
      : report_(report), slice_uuid_(slice_uuid) {}

  Status Parse(dom::object body);

 private:
  void ParseImages(dom::array images, std::string_view proc_path);
  Status ParseFrames(dom::array frames, std::vector<CrashFrame>* out);
  Status ParseThread(dom::object thread);

  CrashReport* report_;
  std::string slice_uuid_;
  std::vector<ImageRef> refs_;
  size_t frame_count_ = 0;
};

void BodyParser::ParseImages(dom::array images, std::string_view proc_path) {
  for (dom::element e : images) {
    ImageRef& ref = refs_.emplace_back();
    dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) continue;
    ref.base = Uint(o, "base").value_or(0);
    std::optional<std::string> uuid = text::NormalizeUuid(Str(o, "uuid"));
    std::string_view name = Str(o, "name");
    if (Str(o, "source") == "A" || (name.empty() && (!uuid || *uuid == kZeroUuid))) continue;
    ref.name = std::string(name);
    ref.index = static_cast<int>(report_->images.size());
    CrashImage& img = report_->images.emplace_back();
    img.addr = ref.base;
    img.size = Uint(o, "size").value_or(0);
    img.name = ref.name;
    img.path = std::string(Str(o, "path"));
    img.arch = std::string(Str(o, "arch"));
    img.version = std::string(Str(o, "CFBundleShortVersionString"));
    if (uuid) img.uuid = std::move(*uuid);
    img.in_app = (!img.uuid.empty() && img.uuid == slice_uuid_) ||
                 (!proc_path.empty() && img.path == proc_path);
  }
}

Status BodyParser::ParseFrames(dom::array frames, std::vector<CrashFrame>* out) {
  for (dom::element e : frames) {
    dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) continue;
    if (++frame_count_ > kMaxAppleIpsFrames) {
      return Status::TooLarge(std::string(kWhat) + ": more than " +
                              std::to_string(kMaxAppleIpsFrames) + " frames");
    }
    CrashFrame& f = out->emplace_back();
    uint64_t offset = Uint(o, "imageOffset").value_or(0);
    std::optional<uint64_t> index = Uint(o, "imageIndex");
    if (index && *index < refs_.size()) {
      const ImageRef& ref = refs_[*index];
      f.instruction_addr = ref.base + offset;
      f.image_index = ref.index;
      f.module = ref.name;
    } else {
      f.instruction_addr = offset;
    }
    f.symbol = std::string(Str(o, "symbol"));
    if (!f.symbol.empty()) f.symbol_offset = Uint(o, "symbolLocation");
    f.filename = std::string(Str(o, "sourceFile"));
    std::optional<uint64_t> line = Uint(o, "sourceLine");
    if (line && *line <= UINT32_MAX) f.lineno = static_cast<uint32_t>(*line);
    f.inlined = Bool(o, "inline");
  }
  return Status::Ok();
}

// threadState: {"pc": {"value": N}, "x": [{"value": N}, ...], "flavor": "..."}.
void ParseThreadState(dom::object state, std::vector<std::pair<std::string, uint64_t>>* regs) {
  for (dom::key_value_pair field : state) {
    dom::object o;
    dom::array a;
    if (field.value.get_object().get(o) == simdjson::SUCCESS) {
      if (auto v = Uint(o, "value")) regs->emplace_back(std::string(field.key), *v);
    } else if (field.value.get_array().get(a) == simdjson::SUCCESS) {
      size_t i = 0;
      for (dom::element e : a) {
        if (e.get_object().get(o) == simdjson::SUCCESS) {
          if (auto v = Uint(o, "value")) {
            regs->emplace_back(std::string(field.key) + std::to_string(i), *v);
          }
        }
        ++i;
      }
    }
  }
}

Status BodyParser::ParseThread(dom::object o) {
  CrashThread& t = report_->threads.emplace_back();
  t.id = Uint(o, "id");
  std::string_view name = Str(o, "name");
  t.name = std::string(name.empty() ? Str(o, "queue") : name);
  t.crashed = Bool(o, "triggered");
  dom::array frames;
  if (o.at_key("frames").get_array().get(frames) == simdjson::SUCCESS) {
    VIGIL_RETURN_IF_ERROR(ParseFrames(frames, &t.frames));
  }
  dom::object state;
  if (o.at_key("threadState").get_object().get(state) == simdjson::SUCCESS) {
    ParseThreadState(state, &t.registers);
  }
  return Status::Ok();
}

Status BodyParser::Parse(dom::object body) {
  CrashReport& r = *report_;
  // Metadata: top-level scalars, and the scalars one level down as "object.key".
  std::string value;
  for (dom::key_value_pair field : body) {
    dom::object inner;
    if (ScalarText(field.value, &value)) {
      r.metadata[std::string(field.key)] = value;
    } else if (field.value.get_object().get(inner) == simdjson::SUCCESS) {
      for (dom::key_value_pair sub : inner) {
        if (ScalarText(sub.value, &value)) {
          r.metadata[std::string(field.key) + "." + std::string(sub.key)] = value;
        }
      }
    }
  }
  dom::array asi_backtraces;
  if (body.at_key("asiBacktraces").get_array().get(asi_backtraces) == simdjson::SUCCESS) {
    std::string joined;
    for (dom::element e : asi_backtraces) {
      std::string_view s;
      if (e.get_string().get(s) != simdjson::SUCCESS) continue;
      if (!joined.empty()) joined.push_back('\n');
      joined.append(s);
    }
    r.metadata["asiBacktraces"] = std::move(joined);
  }

  std::string_view incident = Str(body, "incident");
  if (!incident.empty()) {
    auto uuid = text::NormalizeUuid(incident);
    r.incident_identifier = uuid ? *uuid : std::string(incident);
  }
  std::string_view capture = Str(body, "captureTime");
  if (!capture.empty()) {
    auto ts = text::NormalizeTimestamp(capture);
    r.timestamp = ts ? *ts : std::string(capture);
  }
  std::string_view cpu = Str(body, "cpuType");
  if (!cpu.empty()) r.code_type = std::string(cpu);
  dom::object os;
  if (r.os_version.empty() && body.at_key("osVersion").get_object().get(os) == simdjson::SUCCESS) {
    r.os_version = std::string(Str(os, "train"));
    std::string_view build = Str(os, "build");
    if (!build.empty()) r.os_version.append(" (").append(build).append(")");
  }

  dom::object exception;
  if (body.at_key("exception").get_object().get(exception) == simdjson::SUCCESS) {
    r.exception_type = std::string(Str(exception, "type"));
    for (std::string_view key : {"subtype", "message", "codes"}) {
      std::string_view v = Str(exception, key);
      if (!v.empty()) {
        r.exception_reason = std::string(v);
        break;
      }
    }
  }
  dom::object asi;
  if (body.at_key("asi").get_object().get(asi) == simdjson::SUCCESS) {
    for (dom::key_value_pair field : asi) {
      auto append = [&](std::string_view s) {
        if (!r.application_specific_information.empty()) {
          r.application_specific_information.push_back('\n');
        }
        r.application_specific_information.append(s);
      };
      std::string_view s;
      dom::array lines;
      if (field.value.get_string().get(s) == simdjson::SUCCESS) {
        append(s);
      } else if (field.value.get_array().get(lines) == simdjson::SUCCESS) {
        for (dom::element e : lines) {
          if (e.get_string().get(s) == simdjson::SUCCESS) append(s);
        }
      }
    }
  }

  dom::array images;
  if (body.at_key("usedImages").get_array().get(images) == simdjson::SUCCESS) {
    ParseImages(images, Str(body, "procPath"));
  }
  dom::array threads;
  if (body.at_key("threads").get_array().get(threads) == simdjson::SUCCESS) {
    for (dom::element e : threads) {
      dom::object o;
      if (e.get_object().get(o) != simdjson::SUCCESS) continue;
      VIGIL_RETURN_IF_ERROR(ParseThread(o));
    }
  }
  std::optional<uint64_t> faulting = Uint(body, "faultingThread");
  if (faulting && *faulting < r.threads.size()) {
    r.crashed_thread = static_cast<size_t>(*faulting);
    r.threads[*faulting].crashed = true;
  } else {
    for (size_t i = 0; i < r.threads.size(); ++i) {
      if (r.threads[i].crashed) {
        r.crashed_thread = i;
        break;
      }
    }
  }
  dom::array leb;
  if (body.at_key("lastExceptionBacktrace").get_array().get(leb) == simdjson::SUCCESS) {
    CrashStack& stack = r.extra_stacks.emplace_back();
    stack.title = "Last Exception Backtrace";
    VIGIL_RETURN_IF_ERROR(ParseFrames(leb, &stack.frames));
  }
  return Status::Ok();
}

// The header's scalars, copied out before the parser is reused for the body.
struct Header {
  std::map<std::string, std::string> scalars;
  std::string Get(const std::string& key) const {
    auto it = scalars.find(key);
    return it == scalars.end() ? std::string() : it->second;
  }
};

}  // namespace

Result<CrashReport> ParseAppleIpsReport(std::string_view text) {
  VIGIL_RETURN_IF_ERROR(text::CheckTextInput(kWhat, text, kMaxAppleIpsReportBytes));
  size_t newline = text.find('\n');
  std::string_view header_line =
      text::Trim(newline == std::string_view::npos ? text : text.substr(0, newline));
  std::string_view body_text =
      newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);

  if (header_line.empty()) {
    return Status::InvalidArgument(std::string(kWhat) +
                                   ": line 1: empty, expected the JSON header");
  }
  dom::parser parser;
  dom::element header_doc;
  dom::object header_obj;
  if (auto err = parser.parse(header_line.data(), header_line.size()).get(header_doc)) {
    return text::LineError(kWhat, 1,
                           std::string("header is not JSON (") + simdjson::error_message(err) + ")",
                           header_line);
  }
  if (header_doc.get_object().get(header_obj) != simdjson::SUCCESS) {
    return text::LineError(kWhat, 1, "header is not a JSON object", header_line);
  }
  Header header;
  std::string value;
  for (dom::key_value_pair field : header_obj) {
    if (ScalarText(field.value, &value)) header.scalars[std::string(field.key)] = value;
  }
  std::optional<std::string> bug_type = BugType(header_obj);
  if (!bug_type) {
    return text::LineError(kWhat, 1, "header has no bug_type", header_line);
  }

  CrashReport report;
  if (*bug_type == "109") {
    // Legacy (iOS 14 and older) .ips: the body is the classic text report.
    Result<CrashReport> legacy = ParseAppleCrashReport(body_text);
    if (!legacy.ok()) return legacy.status();
    report = std::move(legacy).value();
    for (auto& [k, v] : header.scalars) report.metadata.try_emplace(k, v);
    return report;
  }
  if (*bug_type != "309") {
    return Status::Unsupported(std::string(kWhat) + ": bug_type " + *bug_type +
                               " is not a crash report (only 309, and legacy 109, are parsed)");
  }
  if (text::Trim(body_text).empty()) {
    return Status::InvalidArgument(std::string(kWhat) +
                                   ": line 2: no report body after the header line");
  }

  report.metadata = header.scalars;
  std::string incident = header.Get("incident_id");
  if (auto uuid = text::NormalizeUuid(incident)) incident = *uuid;
  report.incident_identifier = incident;
  std::string ts = header.Get("timestamp");
  if (auto norm = text::NormalizeTimestamp(ts)) ts = *norm;
  report.timestamp = ts;
  report.os_version = header.Get("os_version");
  report.app_version = header.Get("app_version");
  std::string build = header.Get("build_version");
  if (!build.empty()) report.app_version.append(" (").append(build).append(")");
  std::string slice_uuid = header.Get("slice_uuid");
  if (auto uuid = text::NormalizeUuid(slice_uuid)) slice_uuid = *uuid;

  dom::element body_doc;
  dom::object body_obj;
  if (auto err = parser.parse(body_text.data(), body_text.size()).get(body_doc)) {
    return Status::InvalidArgument(std::string(kWhat) + ": body (line 2 on) is not valid JSON: " +
                                   simdjson::error_message(err));
  }
  if (body_doc.get_object().get(body_obj) != simdjson::SUCCESS) {
    return Status::InvalidArgument(std::string(kWhat) + ": body (line 2 on) is not a JSON object");
  }
  BodyParser body(&report, slice_uuid);
  VIGIL_RETURN_IF_ERROR(body.Parse(body_obj));
  return report;
}

}  // namespace vigil::process
