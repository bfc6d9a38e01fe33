// LineReader: the lines of a text, for every line-oriented parser of outside bytes (crash
// reports, Breakpad .sym files, mappings).
//
// Yields each line without its '\n' and without a trailing '\r' (so LF and CRLF read the same),
// counting them for error messages. Never allocates; the views point into the text, which must
// outlive the reader. Not thread-safe (one reader per parse).
#pragma once

#include <cstddef>
#include <string_view>

namespace vigil {

class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}

  // False when all lines were returned. A final line without '\n' is still a line.
  bool Next(std::string_view* line);
  // 1-based number of the line last returned by Next (0 before the first call).
  size_t line_number() const { return line_number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t line_number_ = 0;
};

}  // namespace vigil
