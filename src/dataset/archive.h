#pragma once
// Safe extraction of the training archive (MISSION.md "Dataset"; DECISIONS.md §20): entries that
// would write outside the destination (absolute paths, ".." components), symlinks and other special
// files are refused; macOS metadata and hidden files and folders are ignored; the entry count, the
// total uncompressed size and each entry's compression ratio are capped against zip bombs.
// Folders inside the archive are fine.
//
// Every unsafe entry is reported at once, before anything is written, as one core::DatasetRejected
// whose problems have loc ["body", "training_data_url", <entry name>].

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace avtrain::core {
class Progress;
}

namespace avtrain::dataset {

// DECISIONS.md §20 defaults.
struct ArchiveLimits {
  int64_t max_entries = 10'000;
  uint64_t max_total_bytes = uint64_t{64} << 30;  // uncompressed, all extracted entries together
  // An entry is a likely bomb when its uncompressed size exceeds max_ratio times its compressed
  // size AND ratio_floor_bytes (small, highly compressible files such as captions stay fine).
  double max_ratio = 100;
  uint64_t ratio_floor_bytes = uint64_t{10} << 20;
};

struct ExtractedFile {
  std::string archive_path;    // the entry's name in the archive, '/'-separated ("set1/a_start.mp4")
  std::filesystem::path path;  // where it was written
  uint64_t bytes = 0;
};

struct ExtractedArchive {
  std::vector<ExtractedFile> files;        // regular files, in archive order
  std::vector<std::string> ignored;        // macOS metadata and hidden entries, not extracted
  int64_t entry_count = 0;                 // all entries, folders included
};

// Extracts `archive` into `destination` (created; it should be empty). `archive_name` names the
// archive in messages ("clips.zip"). Throws core::DatasetRejected when the file is not a zip, is
// empty, holds unsafe entries or exceeds a limit.
ExtractedArchive extract_archive(const std::filesystem::path& archive, const std::filesystem::path& destination,
                                 const std::string& archive_name, const ArchiveLimits& limits = {},
                                 core::Progress* progress = nullptr);

// What extracting `archive` would write, from its directory: the bytes of its regular files (hidden
// and macOS entries left out) and how many of them are clips (a video extension), for the disk-space
// check before extraction. Throws core::DatasetRejected as extract_archive does for a file that is not
// a readable zip.
struct ArchiveContents {
  uint64_t bytes = 0;
  int64_t clips = 0;
};
ArchiveContents archive_contents(const std::filesystem::path& archive, const std::string& archive_name);

// `message` with the extracted file's path replaced by its name in the archive: messages of the media
// layer name the file they read, and a user knows the entry, not the server's extraction folder.
std::string in_archive_terms(std::string message, const ExtractedFile& file);

// Whether an archive entry is macOS metadata or hidden (a component "__MACOSX" or starting with ".",
// which covers ".DS_Store" and "._name"): such entries are skipped, not refused.
bool is_ignored_entry(const std::string& archive_path);

}  // namespace avtrain::dataset
