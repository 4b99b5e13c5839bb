#pragma once
// A temporary folder removed at scope exit (tests write only to temporary folders).

#include <filesystem>
#include <string>

namespace avtrain::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "avtrain-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace avtrain::testing
