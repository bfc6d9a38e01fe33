// TempDir: a fresh directory under /tmp, removed with everything in it when destroyed — what
// every test fixture that writes files starts from (it was repeated in a dozen of them).
//
// Tests only: if the directory cannot be created the process aborts. Owned by one fixture; no
// thread may use the path after the TempDir is destroyed.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace vigil {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vigil-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp /tmp/vigil-test-XXXXXX");
      std::abort();
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace vigil
