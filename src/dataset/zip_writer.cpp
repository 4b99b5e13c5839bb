#include "dataset/zip_writer.h"

#include <fmt/format.h>
#include <zip.h>

#include <memory>
#include <system_error>

#include "core/error.h"
#include "dataset/zip_handle.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;

bool compressible(const std::string& name) { return name.ends_with(".json") || name.ends_with(".txt"); }

}  // namespace

void write_zip(const fs::path& path, const ArchiveMembers& members) {
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
    throw core::InternalError(fmt::format("cannot create the archive {}: {}", temporary.string(), reason));
  }
  for (const auto& [name, file] : members) {
    if (!fs::is_regular_file(file)) {
      throw core::InternalError(
          fmt::format("{}: {} (for {}) does not exist", path.string(), file.string(), name));
    }
    zip_source_t* source = zip_source_file(zip.get(), file.c_str(), 0, -1);
    if (!source) {
      throw core::InternalError(
          fmt::format("{}: cannot read {}: {}", path.string(), file.string(), zip_strerror(zip.get())));
    }
    const zip_int64_t index = zip_file_add(zip.get(), name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      throw core::InternalError(
          fmt::format("{}: cannot add {}: {}", path.string(), name, zip_strerror(zip.get())));
    }
    zip_set_file_compression(zip.get(), static_cast<zip_uint64_t>(index),
                             compressible(name) ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(zip.get()) != 0) {
    throw core::InternalError(
        fmt::format("cannot write the archive {}: {}", temporary.string(), zip_strerror(zip.get())));
  }
  zip.release();  // closed: zip_close freed it
  fs::rename(temporary, path);
}

}  // namespace avtrain::dataset
