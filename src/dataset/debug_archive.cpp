#include "dataset/debug_archive.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/log.h"

namespace avtrain::dataset {

namespace fs = std::filesystem;

ArchiveMembers debug_archive_members(const PreparedDataset& prepared) {
  ArchiveMembers members{{"manifest.json", prepared.manifest}};
  for (const auto& pair : prepared.pairs) {
    if (pair.debug_reference.empty() || pair.debug_target.empty()) {
      throw core::InternalError(fmt::format(
          "the pair {} has no debug clips: prepare_dataset must run with debug output for debug_dataset",
          pair.name));
    }
    members.emplace_back(pair.name + "/reference.mp4", pair.debug_reference);
    members.emplace_back(pair.name + "/target.mp4", pair.debug_target);
    members.emplace_back(pair.name + "/prompt.txt", pair.debug_target.parent_path() / (pair.name + ".txt"));
  }
  return members;
}

void write_debug_archive(const PreparedDataset& prepared, const fs::path& path, const ArchiveMembers& extra) {
  ArchiveMembers members = debug_archive_members(prepared);
  members.insert(members.end(), extra.begin(), extra.end());
  write_zip(path, members);
  core::logger("dataset").info("debug archive {}: {} files", path.string(), members.size());
}

}  // namespace avtrain::dataset
