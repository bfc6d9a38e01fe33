// Runs `vigil symbols convert` in a child process and reads back the symcaches it wrote.
#include "symbols/child_converter.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/file_util.h"
#include "symbols/symcache.h"

extern char** environ;

namespace vigil::symbols {

namespace {

// Exit codes of `vigil symbols convert` the parent tells apart (symbols_convert_command.cc).
constexpr int kExitOutOfMemory = 3;
constexpr int kExitBadFile = 4;
constexpr int kExitIoError = 5;

// The last non-empty line of the child's stderr, without the command's "vigil ...: " prefix.
std::string LastLine(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return {};
  std::string_view s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  size_t nl = s.rfind('\n');
  if (nl != std::string_view::npos) s.remove_prefix(nl + 1);
  constexpr std::string_view kPrefix = "vigil symbols convert: ";
  if (s.substr(0, kPrefix.size()) == kPrefix) s.remove_prefix(kPrefix.size());
  return std::string(s.substr(0, 2000));
}

// A sanitizer report's "SUMMARY: ..." line, else the last line.
std::string SummaryLine(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return {};
  size_t at = text->rfind("SUMMARY: ");
  if (at == std::string::npos) return LastLine(path);
  size_t end = text->find('\n', at);
  std::string line = text->substr(at, end == std::string::npos ? std::string::npos : end - at);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

struct ChildExit {
  int status = 0;
  bool timed_out = false;
};

// Waits for `pid` at most `timeout_ms`; kills it on timeout. Polls: a child lives for at least
// milliseconds, and polling needs no SIGCHLD handler or pidfd support.
ChildExit WaitWithTimeout(pid_t pid, int64_t timeout_ms) {
  ChildExit out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    pid_t r = ::waitpid(pid, &out.status, WNOHANG);
    if (r == pid) return out;
    if (r < 0 && errno != EINTR) {
      out.status = -1;
      return out;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &out.status, 0) < 0 && errno == EINTR) {
      }
      out.timed_out = true;
      return out;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace

ChildConverter::ChildConverter(std::vector<std::string> argv_prefix, std::string scratch_dir,
                               Limits limits)
    : argv_prefix_(std::move(argv_prefix)), scratch_dir_(std::move(scratch_dir)), limits_(limits) {
  (void)RemoveTree(scratch_dir_);  // what a killed server left behind
}

std::vector<std::string> ChildConverter::SelfArgv() {
  return {"/proc/self/exe", "symbols", "convert"};
}

Result<std::vector<BuiltSymCache>> ChildConverter::Convert(std::string_view data,
                                                           std::string_view name) const {
  static std::atomic<uint64_t> next_call{0};
  const std::string dir = scratch_dir_ + "/" + std::to_string(::getpid()) + "-" +
                          std::to_string(next_call.fetch_add(1));
  VIGIL_RETURN_IF_ERROR(MakeDirs(dir + "/out"));
  struct Cleanup {
    const std::string& dir;
    ~Cleanup() { (void)RemoveTree(dir); }
  } cleanup{dir};
  VIGIL_RETURN_IF_ERROR(WriteFile(dir + "/input", data));

  std::vector<std::string> args = argv_prefix_;
  args.insert(args.end(),
              {"--out", dir + "/out", "--cpu-seconds", std::to_string(limits_.cpu_seconds),
               "--memory-mb", std::to_string(limits_.memory_mb)});
  if (!name.empty()) args.insert(args.end(), {"--name", std::string(name)});
  args.push_back(dir + "/input");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const std::string stderr_path = dir + "/stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  // The server's sockets and log files stay out of the child.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);  // the server blocks its stop signals
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int err = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return Status::FromErrno("starting the symbol converter " + args[0], err);

  const ChildExit exit = WaitWithTimeout(pid, limits_.timeout_ms);
  const std::string advice =
      "; if the file is sound, upload a Breakpad .sym made from it with dump_syms instead";
  if (exit.timed_out) {
    return Status::InvalidArgument("converting the object file took longer than " +
                                   std::to_string(limits_.timeout_ms / 1000) +
                                   " s and was stopped; strip sections symbolication does not "
                                   "need (keep .debug_* and .symtab)" +
                                   advice);
  }
  if (exit.status == -1) return Status::Internal("lost track of the symbol converter process");
  if (WIFSIGNALED(exit.status)) {
    const int sig = WTERMSIG(exit.status);
    if (sig == SIGXCPU) {
      return Status::InvalidArgument("converting the object file used more than " +
                                     std::to_string(limits_.cpu_seconds) +
                                     " s of CPU and was stopped" + advice);
    }
    if (sig == SIGKILL) {
      return Status::InvalidArgument(
          "the symbol converter was killed (likely out of memory) while reading the object "
          "file" +
          advice);
    }
    const char* abbrev = sigabbrev_np(sig);
    return Status::InvalidArgument(
        "the object file crashed the symbol converter (" +
        (abbrev != nullptr ? "SIG" + std::string(abbrev) : "signal " + std::to_string(sig)) +
        " in LLVM's object or DWARF reader): it is malformed; check it with `llvm-dwarfdump "
        "--verify`" +
        advice);
  }
  const int code = WIFEXITED(exit.status) ? WEXITSTATUS(exit.status) : -1;
  if (code == kExitOutOfMemory) {
    return Status::InvalidArgument("converting the object file needs more than " +
                                   std::to_string(limits_.memory_mb) + " MiB of memory" + advice);
  }
  if (code == kExitBadFile) {
    std::string message = LastLine(stderr_path);
    return Status::InvalidArgument(message.empty() ? "the symbol file could not be read" : message);
  }
  if (code == kExitIoError) {
    return Status::IoError("the symbol converter could not read or write its files: " +
                           LastLine(stderr_path));
  }
  if (code != 0) {
    // A sanitizer's report or an abort inside LLVM: the same as a crash.
    std::string detail = SummaryLine(stderr_path).substr(0, 300);
    return Status::InvalidArgument(
        "the object file crashed the symbol converter (exit code " + std::to_string(code) +
        (detail.empty() ? std::string() : ": " + detail) +
        "): it is malformed; check it with `llvm-dwarfdump --verify`" + advice);
  }

  Result<std::vector<std::string>> names = ListDir(dir + "/out");
  if (!names.ok()) return names.status();
  std::sort(names->begin(), names->end());
  std::vector<BuiltSymCache> out;
  for (const std::string& n : *names) {
    if (!n.ends_with(".symcache")) continue;
    const std::string path = dir + "/out/" + n;
    // Mapped to validate it and read its header, without a second copy of the bytes.
    Result<SymCache> cache = SymCache::Open(path);
    if (!cache.ok()) {
      return Status::Internal("the symbol converter wrote an invalid symcache: " +
                              cache.status().message());
    }
    Result<std::string> bytes = ReadFile(path);
    if (!bytes.ok()) return bytes.status();
    BuiltSymCache b;
    b.source = cache->kind();
    b.debug_id = cache->debug_id();
    b.code_id = std::string(cache->code_id());
    b.arch = std::string(cache->arch());
    b.bytes = std::move(*bytes);
    out.push_back(std::move(b));
  }
  if (out.empty()) return Status::Internal("the symbol converter wrote no symcache");
  return out;
}

}  // namespace vigil::symbols
