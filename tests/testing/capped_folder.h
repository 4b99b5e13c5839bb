#pragma once
// A size-capped folder for the disk-space tests (issue 25): a tmpfs the test mounts over `dir` (it needs
// root, as CI has), unmounted when it ends. mounted() is false where it cannot be made: skip then.
#include <cstdlib>
#include <filesystem>
#include <string>

namespace avtrain::testing {

class CappedFolder {
 public:
  CappedFolder(std::filesystem::path dir, int megabytes) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    mounted_ = std::system(("mount -t tmpfs -o size=" + std::to_string(megabytes) + "m tmpfs '" +
                            dir_.string() + "' 2>/dev/null")
                               .c_str()) == 0;
  }
  ~CappedFolder() {
    if (mounted_) [[maybe_unused]]
      const int ignored = std::system(("umount -l '" + dir_.string() + "'").c_str());
  }
  CappedFolder(const CappedFolder&) = delete;
  CappedFolder& operator=(const CappedFolder&) = delete;

  bool mounted() const { return mounted_; }
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

}  // namespace avtrain::testing
