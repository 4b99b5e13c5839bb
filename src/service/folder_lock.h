#pragma once
// One folder, one owner (issue 29): an exclusive advisory lock (flock) on FOLDER/.lock, held for the
// life of the object, with the holder's pid written in the file. A job folder is locked while a job
// runs in it (a second `avtrain train --out` on it is refused at once), a server's data folder while the
// server runs (a second server on it is refused). The operating system releases the lock when the
// process ends, however it ends, so a killed run never leaves a stale lock behind.
#include <filesystem>
#include <string>
#include <string_view>

namespace avtrain::service {

class FolderLock {
 public:
  // Creates the folder when missing and takes the lock; throws core::InvalidInput naming the folder,
  // `what` it is ("job folder", "data folder") and the holder's pid when another process (or another
  // lock in this one) holds it.
  FolderLock(const std::filesystem::path& folder, std::string_view what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int descriptor_ = -1;
};

}  // namespace avtrain::service
