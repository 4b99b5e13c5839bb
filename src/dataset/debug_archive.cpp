#include "dataset/debug_archive.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <zip.h>

#include <memory>
#include <system_error>

#include "core/error.h"
#include "core/log.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;

// zip_close() writes the archive and can fail: it is called and checked; the deleter (error paths)
// discards (STYLE.md §7).
struct ZipDiscarder {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipDiscarder>;

bool compressible(const std::string& name) { return name.ends_with(".json") || name.ends_with(".txt"); }

}  // namespace

ArchiveMembers debug_archive_members(const PreparedDataset& prepared) {
  ArchiveMembers members{{"manifest.json", prepared.manifest}};
  for (const auto& pair : prepared.pairs) {
    if (pair.debug_reference.empty() || pair.debug_target.empty()) {
      throw core::InternalError(fmt::format(
          "the pair {} has no debug clips: prepare_dataset must run with debug output for debug_dataset", pair.name));
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
  fs::path temporary = path;
  temporary += ".tmp";
  std::error_code ignored;
  fs::remove(temporary, ignored);
  int open_error = 0;
  ZipPtr zip(zip_open(temporary.c_str(), ZIP_CREATE | ZIP_EXCL, &open_error));
  if (!zip) {
    zip_error_t error;
    zip_error_init_with_code(&error, open_error);
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    throw core::InternalError(fmt::format("cannot create the debug archive {}: {}", temporary.string(), reason));
  }
  for (const auto& [name, file] : members) {
    if (!fs::is_regular_file(file)) {
      throw core::InternalError(fmt::format("debug archive: {} (for {}) does not exist", file.string(), name));
    }
    zip_source_t* source = zip_source_file(zip.get(), file.c_str(), 0, -1);
    if (!source) {
      throw core::InternalError(fmt::format("debug archive: cannot read {}: {}", file.string(), zip_strerror(zip.get())));
    }
    const zip_int64_t index = zip_file_add(zip.get(), name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      throw core::InternalError(fmt::format("debug archive: cannot add {}: {}", name, zip_strerror(zip.get())));
    }
    zip_set_file_compression(zip.get(), static_cast<zip_uint64_t>(index),
                             compressible(name) ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(zip.get()) != 0) {
    throw core::InternalError(
        fmt::format("cannot write the debug archive {}: {}", temporary.string(), zip_strerror(zip.get())));
  }
  zip.release();  // closed: zip_close freed it
  fs::rename(temporary, path);
  core::logger("dataset").info("debug archive {}: {} files", path.string(), members.size());
}

}  // namespace avtrain::dataset
