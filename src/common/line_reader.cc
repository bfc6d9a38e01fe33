// Splits text into lines for the parsers; see line_reader.h.
#include "common/line_reader.h"

namespace vigil {

bool LineReader::Next(std::string_view* line) {
  if (pos_ >= text_.size()) return false;
  size_t end = text_.find('\n', pos_);
  size_t next = end == std::string_view::npos ? text_.size() : end + 1;
  if (end == std::string_view::npos) end = text_.size();
  std::string_view l = text_.substr(pos_, end - pos_);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  pos_ = next;
  ++line_number_;
  *line = l;
  return true;
}

}  // namespace vigil
