// RateLimitedLog: see rate_limited_log.h.
#include "common/rate_limited_log.h"

#include <chrono>
#include <string>

namespace vigil {

bool RateLimitedLog::Print(std::string_view line, int64_t now_ms) {
  if (printed_ && now_ms - last_ms_ < interval_ms_) {
    left_out_++;
    return false;
  }
  std::string text(line);
  if (left_out_ > 0) {
    text += " (" + std::to_string(left_out_) + " more like it in the last " +
            std::to_string((now_ms - last_ms_ + 500) / 1000) + " s)";
  }
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
  printed_ = true;
  last_ms_ = now_ms;
  left_out_ = 0;
  return true;
}

bool RateLimitedLog::Print(std::string_view line) {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  return Print(line, std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

}  // namespace vigil
