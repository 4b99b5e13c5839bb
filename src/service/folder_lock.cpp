#include "service/folder_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace avtrain::service {

FolderLock::FolderLock(const std::filesystem::path& folder, std::string_view what) {
  std::filesystem::create_directories(folder);
  const auto file = folder / ".lock";
  descriptor_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (descriptor_ < 0) {
    throw core::InternalError(
        fmt::format("{} {}: cannot open its lock file: {}", what, folder.string(), std::strerror(errno)));
  }
  if (::flock(descriptor_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[32] = {};
    const ssize_t got = ::pread(descriptor_, holder, sizeof holder - 1, 0);
    ::close(descriptor_);
    descriptor_ = -1;
    if (error != EWOULDBLOCK) {
      throw core::InternalError(
          fmt::format("{} {}: cannot lock it: {}", what, folder.string(), std::strerror(error)));
    }
    const std::string pid = got > 0 ? std::string(holder, static_cast<size_t>(got)) : "unknown";
    throw core::InvalidInput(fmt::format(
        "{} {} is in use by another avtrain process (pid {}): one process at a time may run in it. Wait for "
        "that one to end or stop it, or choose another folder",
        what, folder.string(), pid.substr(0, pid.find_first_of(" \n"))));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(descriptor_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(descriptor_, pid.data(), pid.size(), 0);
  }
}

FolderLock::~FolderLock() {
  if (descriptor_ >= 0) ::close(descriptor_);  // closing releases the lock
}

}  // namespace avtrain::service
