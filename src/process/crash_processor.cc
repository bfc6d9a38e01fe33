// Dispatch by error form, symbolication / retrace, grouping, and the processed JSON.
#include "process/crash_processor.h"

#include <charconv>

#include "common/json_writer.h"
#include "process/apple_crash_parser.h"
#include "process/apple_ips_parser.h"
#include "process/java_trace.h"
#include "process/tombstone_parser.h"
#include "symbols/retrace.h"

namespace vigil::process {

namespace {

// "0x1a2b", "1a2b" or a JSON integer.
uint64_t Address(const BinaryValue& v) {
  if (v.is_integer()) return static_cast<uint64_t>(v.AsInt());
  std::string_view s = v.AsString();
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  uint64_t out = 0;
  std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return out;
}

// The wire's native form: threads with instruction addresses, images with ids and ranges.
CrashReport FromNative(const BinaryValue& error) {
  CrashReport r;
  error.Get("images").ForEach([&](std::string_view, const BinaryValue& img) {
    CrashImage image;
    image.addr = Address(img.Get("image_addr"));
    image.size = Address(img.Get("image_size"));
    image.name = std::string(img.Get("name").AsString());
    image.path = image.name;
    image.arch = std::string(img.Get("arch").AsString());
    image.uuid = std::string(img.Get("debug_id").AsString());
    image.code_id = std::string(img.Get("code_id").AsString());
    r.images.push_back(std::move(image));
  });
  error.Get("threads").ForEach([&](std::string_view, const BinaryValue& th) {
    CrashThread thread;
    thread.crashed = th.Get("crashed").is_true();
    th.Get("frames").ForEach([&](std::string_view, const BinaryValue& fr) {
      CrashFrame frame;
      frame.instruction_addr = Address(fr.Get("instruction_addr"));
      frame.symbol = std::string(fr.Get("function").AsString());
      thread.frames.push_back(std::move(frame));
    });
    r.threads.push_back(std::move(thread));
  });
  return r;
}

void FromStack(const SymbolicatedStack& stack, ProcessedCrash* out) {
  for (const SymbolicatedFrame& f : stack.frames) {
    ProcessedFrame p;
    p.function = f.function;
    p.file = f.file;
    p.line = f.line;
    p.module = f.module;
    p.address = f.instruction_addr;
    p.in_app = f.in_app;
    p.inlined = f.inlined;
    p.symbolicated = f.symbolicated;
    out->frames.push_back(std::move(p));
  }
  out->missing = stack.missing;
  out->symbolicated = stack.complete;
}

GroupingInput GroupingOf(const ProcessedCrash& c, std::string_view app_version,
                         const SymbolicatedStack* stack) {
  GroupingInput in;
  in.exception_type = c.exception_type;
  in.app_version = std::string(app_version);
  for (size_t i = 0; i < c.frames.size(); ++i) {
    GroupingFrame g;
    g.function = c.frames[i].function;
    g.file = c.frames[i].file;
    g.in_app = c.frames[i].in_app;
    g.symbols_missing = stack != nullptr ? stack->frames[i].symbols_missing
                                         : (!c.missing.empty() && c.frames[i].in_app);
    in.frames.push_back(std::move(g));
  }
  return in;
}

void ProcessJava(std::string_view text, std::string_view mapping_id, std::string_view app_version,
                 CrashSymbols* symbols, ProcessedCrash* out) {
  Result<JavaStackTrace> trace = ParseJavaStackTrace(text);
  if (!trace.ok()) {
    out->error = trace.status().message();
    return;
  }
  std::shared_ptr<const symbols::ProguardMapping> mapping;
  if (!mapping_id.empty()) {
    mapping = symbols->FindMapping(mapping_id);
    if (mapping == nullptr) out->missing.push_back("mapping_id:" + std::string(mapping_id));
  } else {
    // No id: the mapping uploaded for the app version, if any. Without one the names are
    // taken as they are (an app that is not obfuscated needs no mapping).
    mapping = symbols->FindMappingForVersion(app_version);
  }
  // Group on the root cause: the last exception of the cause chain.
  std::vector<uint32_t> chain = trace->CauseChain();
  if (chain.empty()) return;
  std::optional<symbols::StackRetracer> retracer;
  if (mapping != nullptr) retracer.emplace(mapping.get());
  const JavaException* root = nullptr;
  for (uint32_t index : chain) {
    const JavaException& e = trace->exceptions[index];
    std::string type = e.type;
    if (retracer) {
      if (std::optional<std::string_view> t = retracer->OnException(e.type)) type = std::string(*t);
    }
    root = &e;
    out->exception_type = type;
    out->reason = e.message;
    out->frames.clear();
    for (const JavaFrame& f : e.frames) {
      if (!retracer) {
        ProcessedFrame p;
        p.module = f.class_name;
        p.function = f.class_name + "." + f.method;
        p.file = f.file;
        p.line = f.line.value_or(0);
        p.in_app = !IsPlatformJavaClass(f.class_name);
        p.symbolicated = mapping_id.empty();  // nothing to retrace with: names are final
        out->frames.push_back(std::move(p));
        continue;
      }
      symbols::FrameRetrace r = retracer->OnFrame(f.class_name, f.method, f.line, f.file);
      if (r.match == symbols::FrameMatch::kOutline || r.match == symbols::FrameMatch::kRemoved) {
        continue;
      }
      if (r.frames.empty()) {  // class not in the mapping: a platform or unobfuscated frame
        ProcessedFrame p;
        p.module = f.class_name;
        p.function = f.class_name + "." + f.method;
        p.file = f.file;
        p.line = f.line.value_or(0);
        p.in_app = !IsPlatformJavaClass(f.class_name);
        p.symbolicated = true;
        out->frames.push_back(std::move(p));
        continue;
      }
      for (size_t k = 0; k < r.frames.size(); ++k) {
        const symbols::RetracedFrame& rf = r.frames[k];
        if (rf.alternative != 0) break;  // ambiguous: the first alternative decides
        ProcessedFrame p;
        p.module = std::string(rf.class_name);
        p.function = std::string(rf.class_name) + "." + std::string(rf.method);
        p.file = rf.file;
        p.line = rf.line.value_or(0);
        p.in_app = true;
        p.inlined = k + 1 < r.frames.size() && r.frames[k + 1].alternative == 0;
        p.symbolicated = true;
        out->frames.push_back(std::move(p));
      }
    }
  }
  (void)root;
  bool all = true;
  for (const ProcessedFrame& f : out->frames) all &= !f.in_app || f.symbolicated;
  out->symbolicated = all && out->missing.empty();
}

}  // namespace

bool IsPlatformJavaClass(std::string_view c) {
  for (std::string_view p : {"java.", "javax.", "android.", "androidx.", "kotlin.", "kotlinx.",
                             "dalvik.", "com.android.", "com.google.android.", "sun.", "libcore.",
                             "jdk.", "org.apache.harmony.", "org.json."}) {
    if (c.substr(0, p.size()) == p) return true;
  }
  return false;
}

ProcessedCrash ProcessCrash(const BinaryValue& error, std::string_view app_version,
                            CrashSymbols* symbols) {
  ProcessedCrash out;
  std::string_view format = error.Get("format").AsString();
  std::string_view text = error.Get("text").AsString();
  out.exception_type = std::string(error.Get("type").AsString());
  out.reason = std::string(error.Get("reason").AsString());
  std::optional<CrashReport> report;
  if (format == "native") {
    out.format = "native";
    report = FromNative(error);
  } else if (format == "apple") {
    out.format = "apple";
    size_t first = text.find_first_not_of(" \t\r\n");
    Result<CrashReport> r = first != std::string_view::npos && text[first] == '{'
                                ? ParseAppleIpsReport(text)
                                : ParseAppleCrashReport(text);
    if (r.ok()) {
      report = std::move(*r);
    } else {
      out.error = r.status().message();
    }
  } else if (format == "tombstone") {
    out.format = "tombstone";
    Result<std::vector<CrashReport>> r = ParseTombstones(text);
    if (r.ok() && !r->empty()) {
      report = std::move(r->front());
    } else {
      out.error = r.ok() ? "no tombstone in the text" : r.status().message();
    }
  } else if (format == "java") {
    out.format = "java";
    ProcessJava(text, error.Get("mapping_id").AsString(), app_version, symbols, &out);
  } else {
    out.format = "minimal";
    out.symbolicated = true;
  }

  std::optional<SymbolicatedStack> stack;
  if (report) {
    if (out.exception_type.empty()) out.exception_type = report->exception_type;
    if (out.reason.empty()) out.reason = report->exception_reason;
    stack = SymbolicateCrashedThread(*report, symbols);
    FromStack(*stack, &out);
  }
  if (!out.error.empty()) out.symbolicated = false;
  out.group = GroupCrash(GroupingOf(out, app_version, stack ? &*stack : nullptr));
  return out;
}

void ProcessedCrash::WriteTo(BinaryValueWriter* w) const {
  w->BeginObject();
  w->Key("format");
  w->String(format);
  w->Key("type");
  w->String(exception_type);
  w->Key("reason");
  w->String(reason);
  w->Key("group_id");
  w->String(group.group_id);
  w->Key("title");
  w->String(group.title);
  w->Key("culprit");
  w->String(group.culprit);
  w->Key("sentinel");
  w->Bool(group.sentinel);
  w->Key("symbolicated");
  w->Bool(symbolicated);
  w->Key("missing");
  w->BeginArray();
  for (const std::string& m : missing) w->String(m);
  w->EndArray();
  w->Key("frames");
  w->BeginArray();
  for (const ProcessedFrame& f : frames) {
    w->BeginObject();
    w->Key("function");
    w->String(f.function);
    w->Key("file");
    w->String(f.file);
    w->Key("line");
    w->Uint(f.line);
    w->Key("module");
    w->String(f.module);
    w->Key("address");
    w->Uint(f.address);
    w->Key("in_app");
    w->Bool(f.in_app);
    w->Key("inlined");
    w->Bool(f.inlined);
    w->Key("symbolicated");
    w->Bool(f.symbolicated);
    w->EndObject();
  }
  w->EndArray();
  if (!error.empty()) {
    w->Key("error");
    w->String(error);
  }
  w->EndObject();
}

std::string ProcessedCrash::ToJson() const {
  std::string binary;
  BinaryValueWriter bw(&binary);
  WriteTo(&bw);
  std::string s;
  JsonWriter w(&s);
  BinaryValue(binary).ToJson(&w);
  return s;
}

}  // namespace vigil::process
