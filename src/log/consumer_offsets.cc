// Reading and atomically writing consumer offset files.
#include "log/consumer_offsets.h"

#include <charconv>

#include "common/file_util.h"

namespace vigil::log {

namespace {
constexpr std::string_view kPrefix = "vigil-offset 1 ";
constexpr std::string_view kSuffix = ".offset";
std::string OffsetPath(const std::string& dir, std::string_view consumer) {
  return dir + "/consumers/" + std::string(consumer) + std::string(kSuffix);
}
}  // namespace

bool IsValidConsumerName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

Status WriteConsumerOffset(const std::string& dir, std::string_view consumer, uint64_t next) {
  if (!IsValidConsumerName(consumer)) {
    return Status::InvalidArgument("consumer name must be 1-64 characters of [A-Za-z0-9_.-]");
  }
  VIGIL_RETURN_IF_ERROR(MakeDirs(dir + "/consumers"));
  std::string text(kPrefix);
  text += std::to_string(next);
  text += '\n';
  return WriteFileAtomically(OffsetPath(dir, consumer), text);
}

Result<std::optional<uint64_t>> ReadConsumerOffset(const std::string& dir,
                                                   std::string_view consumer) {
  if (!IsValidConsumerName(consumer)) {
    return Status::InvalidArgument("consumer name must be 1-64 characters of [A-Za-z0-9_.-]");
  }
  std::string path = OffsetPath(dir, consumer);
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<uint64_t>();
    return text.status();
  }
  std::string_view s = *text;
  if (s.substr(0, kPrefix.size()) != kPrefix || s.empty() || s.back() != '\n') {
    return Status::Corruption(path +
                              ": not an offset file; delete it to restart the consumer "
                              "from the earliest retained record");
  }
  s = s.substr(kPrefix.size(), s.size() - kPrefix.size() - 1);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return Status::Corruption(path + ": bad offset number");
  }
  return std::optional<uint64_t>(v);
}

std::vector<std::string> ListConsumers(const std::string& dir) {
  std::vector<std::string> out;
  Result<std::vector<std::string>> names = ListDir(dir + "/consumers");
  if (!names.ok()) return out;
  for (const std::string& n : *names) {
    if (n.size() > kSuffix.size() && n.ends_with(kSuffix)) {
      out.push_back(n.substr(0, n.size() - kSuffix.size()));
    }
  }
  return out;
}

}  // namespace vigil::log
