#pragma once
// The debug_dataset output (MISSION.md "Outputs"): a zip of the manifest and, per pair, the
// preprocessed reference and target as viewable mp4s with their fitted audio and the prompt:
//   manifest.json
//   <name>/reference.mp4, <name>/target.mp4, <name>/prompt.txt
// plus any extra files (the cached latents, once encoded).

#include <filesystem>

#include "dataset/preprocess.h"
#include "dataset/zip_writer.h"

namespace avtrain::dataset {

// The members of the debug archive of a dataset prepared with debug output.
ArchiveMembers debug_archive_members(const PreparedDataset& prepared);

// Writes `members` (plus `extra`) into the zip at `path`, atomically (through `path`.tmp). Media and
// tensors are stored, text deflated. Throws core::InternalError when a member cannot be read or
// the archive cannot be written.
void write_debug_archive(const PreparedDataset& prepared, const std::filesystem::path& path,
                         const ArchiveMembers& extra = {});

}  // namespace avtrain::dataset
