#pragma once
// Matching the archive's files into clip pairs (MISSION.md "Dataset"): `<name>_start.<ext>` is the
// reference clip, `<name>_end.<ext>` the target, `<name>.txt` the optional caption; video extensions
// .mp4 .mov .webm .mkv .avi, case-insensitive. Base names are unique across the whole archive
// (folders included), so a pair may keep its files in different folders.
//
// Every problem is reported at once, in one core::DatasetRejected: a target without its reference, a
// reference without its target, a base name used twice, a clip with no name before the suffix, and
// an archive with no pair at all. Files of other types, videos without the suffixes and captions
// without clips are ignored with a warning.

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "dataset/archive.h"

namespace avtrain::dataset {

struct ClipPair {
  std::string name;                     // the base name, "dance_07"
  ExtractedFile reference;              // <name>_start.<ext>
  ExtractedFile target;                 // <name>_end.<ext>
  std::optional<ExtractedFile> caption; // <name>.txt
};

struct PairMatch {
  std::vector<ClipPair> pairs;           // sorted by name
  std::vector<std::string> warnings;     // one line per ignored file or caption, naming it
  std::vector<core::Problem> problems;   // non-empty: the archive is rejected (422)
};

// Whether `extension` (".MP4", ".mov", ...) is a video extension the dataset accepts.
bool is_video_extension(std::string extension);

// `archive_name` names the archive in messages. Every problem goes into `problems` (nothing thrown),
// so that a report can show the warnings beside them; pairs with a problem are left out of `pairs`.
PairMatch inspect_pairs(const std::vector<ExtractedFile>& files, const std::string& archive_name);
// inspect_pairs, then core::DatasetRejected listing every problem when there is any.
PairMatch match_pairs(const std::vector<ExtractedFile>& files, const std::string& archive_name);

}  // namespace avtrain::dataset
