// One folder, one owner (service/folder_lock.h): a second lock on a folder is refused at once, naming
// the holder's pid, and the folder is free again once the holder lets go.
#include "service/folder_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>

#include "core/error.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

TEST(FolderLock, ASecondHolderIsRefusedNamingTheFirstsPid) {
  const testing::TempDir dir;
  const auto folder = dir / "job";
  std::optional<FolderLock> first;
  first.emplace(folder, "job folder");
  try {
    FolderLock second(folder, "job folder");
    FAIL() << "two locks on one folder";
  } catch (const core::InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("job folder " + folder.string()), std::string::npos) << message;
    EXPECT_NE(message.find("pid " + std::to_string(::getpid())), std::string::npos) << message;
  }
  first.reset();
  EXPECT_NO_THROW(FolderLock again(folder, "job folder")) << "released with its holder";
}

}  // namespace
}  // namespace avtrain::service
