// A temporary directory under $TMPDIR (or /tmp) that is removed with everything in it when the
// object dies, plus small whole-file helpers for tests. Throws std::runtime_error on I/O errors
// (gtest reports an uncaught exception as a test failure). Not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace starlight::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Join(std::string_view name) const;

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, std::string_view data);
// Names in `dir` (hidden ones included), sorted.
std::vector<std::string> ListDir(const std::string& dir);

}  // namespace starlight::testing
