// Frame-by-frame native symbolication of a crash report's crashing thread.
#include "process/native_symbolicator.h"

#include <algorithm>

namespace vigil::process {

namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The image a frame belongs to, or null.
const CrashImage* ImageOf(const CrashReport& report, const CrashFrame& frame) {
  if (frame.image_index && *frame.image_index >= 0 &&
      static_cast<size_t>(*frame.image_index) < report.images.size()) {
    return &report.images[*frame.image_index];
  }
  if (frame.addr_is_relative) return nullptr;
  for (const CrashImage& image : report.images) {
    if (frame.instruction_addr >= image.addr &&
        (image.size == 0 ? frame.instruction_addr == image.addr
                         : frame.instruction_addr - image.addr < image.size)) {
      return &image;
    }
  }
  return nullptr;
}

std::string BaseName(std::string_view path) {
  size_t bang = path.rfind('!');  // "base.apk!libfoo.so"
  if (bang != std::string_view::npos) path = path.substr(bang + 1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

const CrashThread* CrashedThread(const CrashReport& report) {
  if (report.threads.empty()) return nullptr;
  if (report.crashed_thread && *report.crashed_thread < report.threads.size()) {
    return &report.threads[*report.crashed_thread];
  }
  for (const CrashThread& t : report.threads) {
    if (t.crashed) return &t;
  }
  return &report.threads.front();
}

bool IsAppImage(const CrashImage& image) {
  if (image.in_app) return true;
  const std::string_view p = image.path.empty() ? image.name : image.path;
  for (std::string_view sys : {"/system/", "/apex/", "/vendor/", "/usr/lib/", "/lib/", "/lib64/",
                               "/System/", "/usr/", "/Library/Apple/", "/Developer/"}) {
    if (StartsWith(p, sys)) return false;
  }
  // Anything else is the app's own, unless its name is a well-known system library.
  for (std::string_view sys : {"libc.so", "libc++", "libm.so", "libdl.so", "liblog.so", "libart",
                               "libsystem_", "libdyld", "libobjc", "linker", "dyld"}) {
    if (StartsWith(BaseName(p), sys)) return false;
  }
  return true;
}

SymbolicatedStack SymbolicateCrashedThread(const CrashReport& report, SymbolSource* symbols) {
  SymbolicatedStack out;
  const CrashThread* thread = CrashedThread(report);
  if (thread == nullptr) {
    out.complete = true;
    return out;
  }
  auto missing = [&](std::string id) {
    if (std::find(out.missing.begin(), out.missing.end(), id) == out.missing.end()) {
      out.missing.push_back(std::move(id));
    }
  };
  // Symbols per image, looked up once per report however many frames the image has.
  std::vector<std::pair<std::string, std::shared_ptr<const symbols::SymCache>>> by_image;
  auto find_symbols = [&](const CrashImage& image) -> std::shared_ptr<const symbols::SymCache> {
    std::string key = image.uuid + "|" + image.code_id;
    for (const auto& [k, cache] : by_image) {
      if (k == key) return cache;
    }
    std::shared_ptr<const symbols::SymCache> cache;
    // Only the app's own files are named missing: OS libraries' symbols are not the user's to
    // upload, and their frames do not decide the group.
    const bool app = IsAppImage(image);
    if (!image.uuid.empty()) {
      Result<symbols::DebugId> id = symbols::DebugId::Parse(image.uuid);
      if (id.ok()) cache = symbols->FindByDebugId(*id);
      if (cache == nullptr && app) missing("debug_id:" + (id.ok() ? id->ToString() : image.uuid));
    } else if (!image.code_id.empty()) {
      cache = symbols->FindByCodeId(image.code_id);
      if (cache == nullptr && app) missing("code_id:" + image.code_id);
    }
    by_image.emplace_back(std::move(key), cache);
    return cache;
  };
  std::vector<symbols::SymbolFrame> found;
  bool complete = true;
  for (size_t i = 0; i < thread->frames.size(); ++i) {
    const CrashFrame& frame = thread->frames[i];
    const CrashImage* image = ImageOf(report, frame);
    SymbolicatedFrame base;
    base.instruction_addr = frame.instruction_addr;
    base.module = image != nullptr ? image->name : BaseName(frame.module);
    base.function = frame.symbol;
    base.file = frame.filename;
    base.line = frame.lineno.value_or(0);
    CrashImage from_frame;  // tombstones: the frame names its own module and build id
    if (image == nullptr && frame.addr_is_relative) {
      from_frame.path = frame.module;
      from_frame.name = BaseName(frame.module);
      from_frame.code_id = frame.build_id;
      image = &from_frame;
    }
    base.in_app = image != nullptr && IsAppImage(*image);

    std::shared_ptr<const symbols::SymCache> cache;
    if (image != nullptr) {
      base.module_addr =
          frame.addr_is_relative ? frame.instruction_addr : frame.instruction_addr - image->addr;
      // Caller frames hold return addresses: the call is the instruction before.
      if (!frame.addr_is_relative && i > 0 && base.module_addr > 0) --base.module_addr;
      cache = find_symbols(*image);
    }
    if (cache == nullptr) {
      base.symbols_missing = image != nullptr && (!image->uuid.empty() || !image->code_id.empty());
      if (base.in_app) complete = false;
      out.frames.push_back(std::move(base));
      continue;
    }
    found.clear();
    if (cache->Lookup(base.module_addr, &found) == 0) {
      out.frames.push_back(std::move(base));  // symbols present, address not covered
      continue;
    }
    for (size_t k = 0; k < found.size(); ++k) {
      SymbolicatedFrame f = base;
      f.function = std::string(found[k].function);
      f.file = std::string(found[k].file);
      f.line = found[k].line;
      f.inlined = k + 1 < found.size();
      f.symbolicated = true;
      out.frames.push_back(std::move(f));
    }
  }
  out.complete = complete;
  return out;
}

}  // namespace vigil::process
