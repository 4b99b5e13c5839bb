#pragma once
// The dataset rules before any decoding (MISSION.md "Dataset"; DECISIONS.md §11, §16): extract the
// archive safely, match pairs and captions, probe every clip, require an audio track on both clips,
// and (without auto_scale_input) skip pairs whose clips are shorter than F / frame_rate. The report
// lists pairs, skips with their reasons, warnings and problems; `avtrain dataset check` prints it and
// the job's preprocessing stage continues from it.

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "dataset/archive.h"
#include "dataset/dataset_options.h"
#include "dataset/pairs.h"
#include "media/probe.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::dataset {

struct PairCheck {
  ClipPair pair;
  media::MediaInfo reference, target;  // probed
  bool qualifies = false;
  std::string skip_reason;  // why the pair is skipped, when it does not qualify
};

struct DatasetReport {
  std::string archive_name;
  int64_t archive_entries = 0;
  std::vector<std::string> ignored_entries;  // macOS metadata and hidden entries
  std::vector<PairCheck> pairs;              // every matched pair, qualifying or skipped, by name
  std::vector<std::string> warnings;
  std::vector<core::Problem> problems;       // non-empty: the dataset is rejected (422)

  bool rejected() const { return !problems.empty(); }
  int qualifying_count() const;
};

// Extracts `archive` into `extract_dir` and applies the rules. Dataset problems go into the report
// (nothing thrown for them); internal failures and cancellation throw.
DatasetReport check_dataset(const std::filesystem::path& archive, const std::filesystem::path& extract_dir,
                            const std::string& archive_name, const DatasetOptions& options,
                            const ArchiveLimits& limits = {}, core::Progress* progress = nullptr);

// core::DatasetRejected with every problem of the report, when it has any.
void throw_if_rejected(const DatasetReport& report);

// The report as JSON (pairs with their clips and decisions, skips, warnings, problems).
nlohmann::json to_json(const DatasetReport& report);
// The report for people: one line per pair, then skips, warnings and problems.
std::string to_text(const DatasetReport& report);

}  // namespace avtrain::dataset
