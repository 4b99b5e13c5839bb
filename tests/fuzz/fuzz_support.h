#pragma once
// What the libFuzzer targets share (tests/fuzz, DESIGN.md "Fuzz targets"): a fuzz input as a file (an
// in-memory one, for readers that take a path), a scratch folder per process, and the rule every target
// checks: a parser may refuse its input only with core::Error (whose message and 422 body must
// serialize); any other exception escapes and libFuzzer reports it as a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/error.h"

namespace avtrain::fuzz {

// The input as a file: a memfd, named by its /proc/self/fd path while this object lives.
class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size) {
    descriptor_ = ::memfd_create("fuzz-input", MFD_CLOEXEC);
    if (descriptor_ < 0) throw std::runtime_error("memfd_create failed");
    size_t written = 0;
    while (written < size) {
      const ssize_t n = ::write(descriptor_, data + written, size - written);
      if (n <= 0) throw std::runtime_error("writing the memfd failed");
      written += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(descriptor_);
  }
  ~InputFile() { ::close(descriptor_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  int descriptor_ = -1;
  std::filesystem::path path_;
};

// A folder of this process's own for files a target writes (removed at exit).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "avtrain-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return std::filesystem::path(pattern);
  }();
  return dir;
}

// A refusal: its message and its 422 body must be printable JSON, whatever bytes the input held.
inline void check_refusal(const core::Error& error) {
  const std::string body = error.detail_json();
  if (body.empty() || std::string_view(error.what()).empty()) std::abort();
}

// The fuzz data file `name` (tests/fuzz/data), found through AVTRAIN_FUZZ_DATA set at build time.
inline std::filesystem::path data_file(const std::string& name) {
  return std::filesystem::path(AVTRAIN_FUZZ_DATA) / name;
}

}  // namespace avtrain::fuzz
