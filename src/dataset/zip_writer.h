#pragma once
// Writing a zip archive of files on disk (the debug_dataset output, the demo's pairs.zip) with libzip,
// atomically: through `path`.tmp and a rename, so a reader never sees half an archive.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace avtrain::dataset {

// (name inside the archive, file on disk)
using ArchiveMembers = std::vector<std::pair<std::string, std::filesystem::path>>;

// Writes `members` into the zip at `path`. Text (.json, .txt) is deflated; media and tensors are stored
// (already compressed, or not compressible). Throws core::InternalError naming the member or the
// archive when a member cannot be read or the archive cannot be written.
void write_zip(const std::filesystem::path& path, const ArchiveMembers& members);

}  // namespace avtrain::dataset
