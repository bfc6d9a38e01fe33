// `vigil symbols convert`: turns one symbol file into symcaches on disk. Users run it to check a
// file before uploading it; the server runs it as a child process for every uploaded object file
// (symbols/child_converter.h), so a file that crashes LLVM's readers cannot take the server down.
//
// Exit codes: 0 converted, 2 usage, 3 out of memory, 4 the file is broken or of no known kind,
// 5 reading or writing files failed. 1 is left to crashes (a sanitizer's report exits with 1).
#include <sys/resource.h>

#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/file_util.h"
#include "common/flags.h"
#include "common/json_writer.h"
#include "symbols/symbol_file.h"
#include "symbols/symbol_store.h"

#if defined(__SANITIZE_ADDRESS__)
#define VIGIL_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VIGIL_UNDER_ASAN 1
#endif
#endif

namespace vigil::cli {

namespace {

constexpr int kExitOutOfMemory = 3;
constexpr int kExitBadFile = 4;
constexpr int kExitIoError = 5;

void SetLimit(int resource, uint64_t value) {
  struct rlimit limit = {value, value};
  if (resource == RLIMIT_CPU) limit.rlim_max = value + 5;  // SIGXCPU first, SIGKILL 5 s later
  ::setrlimit(resource, &limit);
}

int Convert(const std::string& out_dir, const std::string& name_flag, const std::string& path) {
  Result<std::string> data = ReadFile(path);
  if (!data.ok()) {
    std::fprintf(stderr, "vigil symbols convert: %s\n", data.status().ToString().c_str());
    return kExitIoError;
  }
  if (data->size() > symbols::kMaxSymbolFileBytes) {
    std::fprintf(stderr, "vigil symbols convert: %s is over %zu MiB\n", path.c_str(),
                 symbols::kMaxSymbolFileBytes >> 20);
    return kExitBadFile;
  }
  const std::string name = name_flag.empty() ? path.substr(path.rfind('/') + 1) : name_flag;
  Result<std::vector<symbols::BuiltSymCache>> built = symbols::BuildSymCaches(*data, name);
  if (!built.ok()) {
    std::fprintf(stderr, "vigil symbols convert: %s\n", built.status().message().c_str());
    return kExitBadFile;
  }
  if (Status st = MakeDirs(out_dir); !st.ok()) {
    std::fprintf(stderr, "vigil symbols convert: %s\n", st.ToString().c_str());
    return kExitIoError;
  }
  for (const symbols::BuiltSymCache& b : *built) {
    const std::string file = out_dir + "/" + b.debug_id.ToString() + ".symcache";
    if (Status st = WriteFileAtomically(file, b.bytes); !st.ok()) {
      std::fprintf(stderr, "vigil symbols convert: %s\n", st.ToString().c_str());
      return kExitIoError;
    }
    std::string line;
    JsonWriter(&line)
        .BeginObject()
        .Key("file")
        .String(file)
        .Key("debug_id")
        .String(b.debug_id.ToString())
        .Key("code_id")
        .String(b.code_id)
        .Key("arch")
        .String(b.arch)
        .Key("has_debug_info")
        .Bool(b.has_debug_info)
        .Key("bytes")
        .Uint(b.bytes.size())
        .EndObject();
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace

int RunSymbolsConvert(const std::vector<std::string>& args) {
  std::string out_dir = ".";
  std::string name;
  int64_t cpu_seconds = 0;
  int64_t memory_mb = 0;
  std::vector<std::string> files;
  FlagSet flags("vigil symbols convert [--out DIR] [--name NAME] FILE",
                "Converts a Breakpad .sym or an ELF / Mach-O file with DWARF into symcaches, the\n"
                "files the server looks crashes up in: one per architecture, written to\n"
                "DIR/<debug id>.symcache, each described by one JSON line on stdout. Use it to\n"
                "check a file before `vigil symbols upload`; the server runs it for every\n"
                "uploaded object file, in a child process with the limits below.");
  flags.String("out", &out_dir, "directory to write the symcaches to (created if missing)");
  flags.String("name", &name, "module name to record (default: FILE's base name)");
  flags.Int("cpu-seconds", &cpu_seconds, "stop after this much CPU time (0: no limit)");
  flags.Int("memory-mb", &memory_mb,
            "fail with exit code 3 above this much address space (0: no limit)");
  flags.Positional(&files);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args, "vigil symbols convert")) {
    return *exit_code;
  }
  if (files.size() != 1) {
    std::fprintf(stderr, "vigil symbols convert: give exactly one FILE (see --help)\n");
    return 2;
  }
  if (cpu_seconds > 0) SetLimit(RLIMIT_CPU, static_cast<uint64_t>(cpu_seconds));
#ifndef VIGIL_UNDER_ASAN  // ASan reserves terabytes of address space up front
  if (memory_mb > 0) SetLimit(RLIMIT_AS, static_cast<uint64_t>(memory_mb) << 20);
#endif
  try {
    return Convert(out_dir, name, files[0]);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "vigil symbols convert: out of memory (limit %lld MiB)\n",
                 static_cast<long long>(memory_mb));
    return kExitOutOfMemory;
  }
}

}  // namespace vigil::cli
