#include "dataset/pairs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"
#include "core/log.h"

namespace avtrain::dataset {
namespace {

constexpr const char* kVideoExtensions[] = {".mp4", ".mov", ".webm", ".mkv", ".avi"};
constexpr const char* kAccepted = ".mp4, .mov, .webm, .mkv or .avi";

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// The file name and its parts: "set1/Dance_07_end.MP4" -> stem "Dance_07_end", extension ".MP4".
struct NameParts {
  std::string file_name, stem, extension;
};
NameParts name_parts(const std::string& archive_path) {
  const auto slash = archive_path.find_last_of('/');
  NameParts parts;
  parts.file_name = slash == std::string::npos ? archive_path : archive_path.substr(slash + 1);
  const auto dot = parts.file_name.find_last_of('.');
  parts.stem = dot == std::string::npos || dot == 0 ? parts.file_name : parts.file_name.substr(0, dot);
  parts.extension = dot == std::string::npos || dot == 0 ? "" : parts.file_name.substr(dot);
  return parts;
}

// Every file that claims a base name, by role.
struct NameGroup {
  std::vector<const ExtractedFile*> references, targets, captions;
};

std::string listed(const std::vector<const ExtractedFile*>& files) {
  std::string text;
  for (size_t idx = 0; idx < files.size(); ++idx) {
    text += (idx == 0 ? "" : idx + 1 == files.size() ? " and " : ", ") + files[idx]->archive_path;
  }
  return text;
}

core::Problem problem_at(const std::string& entry, std::string msg) {
  return {{"body", "training_data_url", entry}, std::move(msg), "value_error"};
}

}  // namespace

bool is_video_extension(std::string extension) {
  extension = lowercase(std::move(extension));
  return std::any_of(std::begin(kVideoExtensions), std::end(kVideoExtensions),
                     [&](const char* known) { return extension == known; });
}

PairMatch inspect_pairs(const std::vector<ExtractedFile>& files, const std::string& archive_name) {
  PairMatch match;
  auto& problems = match.problems;
  std::map<std::string, NameGroup> groups;
  std::vector<std::string> loose_videos, other_files;
  for (const auto& file : files) {
    const auto parts = name_parts(file.archive_path);
    if (lowercase(parts.extension) == ".txt") {
      groups[parts.stem].captions.push_back(&file);
      continue;
    }
    if (!is_video_extension(parts.extension)) {
      other_files.push_back(file.archive_path);
      match.warnings.push_back(fmt::format("{}: ignored {}: not a clip ({}) or caption (.txt)", archive_name,
                                           file.archive_path, kAccepted));
      continue;
    }
    const bool reference = parts.stem.ends_with("_start");
    const bool target = parts.stem.ends_with("_end");
    if (!reference && !target) {
      loose_videos.push_back(file.archive_path);
      match.warnings.push_back(fmt::format(
          "{}: ignored {}: a clip's name must end in _start (reference) or _end (target), e.g. {}_start{}",
          archive_name, file.archive_path, parts.stem, parts.extension));
      continue;
    }
    const std::string base = parts.stem.substr(0, parts.stem.size() - (reference ? 6 : 4));
    if (base.empty()) {
      problems.push_back(problem_at(
          file.archive_path, fmt::format("{}: {} has no name before {}: name the pair, e.g. clip01{}{}", archive_name,
                                         file.archive_path, reference ? "_start" : "_end",
                                         reference ? "_start" : "_end", parts.extension)));
      continue;
    }
    (reference ? groups[base].references : groups[base].targets).push_back(&file);
  }

  for (const auto& [name, group] : groups) {
    const bool has_clips = !group.references.empty() || !group.targets.empty();
    if (!has_clips) {
      for (const auto* caption : group.captions) {
        match.warnings.push_back(fmt::format("{}: ignored the caption {}: there is no {}_start / {}_end pair",
                                             archive_name, caption->archive_path, name, name));
      }
      continue;
    }
    bool ok = true;
    if (group.references.size() > 1) {
      ok = false;
      problems.push_back(problem_at(group.references[1]->archive_path,
                                    fmt::format("{}: the reference name {}_start is used {} times ({}); base names "
                                                "must be unique across the archive, folders included: rename all but one",
                                                archive_name, name, group.references.size(), listed(group.references))));
    }
    if (group.targets.size() > 1) {
      ok = false;
      problems.push_back(problem_at(group.targets[1]->archive_path,
                                    fmt::format("{}: the target name {}_end is used {} times ({}); base names must be "
                                                "unique across the archive, folders included: rename all but one",
                                                archive_name, name, group.targets.size(), listed(group.targets))));
    }
    if (group.captions.size() > 1) {
      ok = false;
      problems.push_back(problem_at(group.captions[1]->archive_path,
                                    fmt::format("{}: the caption {}.txt appears {} times ({}); keep one per pair",
                                                archive_name, name, group.captions.size(), listed(group.captions))));
    }
    if (group.references.empty()) {
      ok = false;
      const auto& target = *group.targets.front();
      problems.push_back(problem_at(
          target.archive_path,
          fmt::format("{}: the target {} has no reference clip: add {}_start{} (its video and audio) or remove the "
                      "target",
                      archive_name, target.archive_path, name, name_parts(target.archive_path).extension)));
    }
    if (group.targets.empty()) {
      ok = false;
      const auto& reference = *group.references.front();
      problems.push_back(problem_at(
          reference.archive_path,
          fmt::format("{}: the reference {} has no target clip: add {}_end{} (its video and audio) or remove the "
                      "reference",
                      archive_name, reference.archive_path, name, name_parts(reference.archive_path).extension)));
    }
    if (!ok) continue;
    ClipPair pair{name, *group.references.front(), *group.targets.front(), std::nullopt};
    if (!group.captions.empty()) pair.caption = *group.captions.front();
    match.pairs.push_back(std::move(pair));
  }

  if (match.pairs.empty() && problems.empty()) {
    std::string found;
    if (files.empty()) {
      found = "it holds no files (hidden files and macOS metadata are ignored)";
    } else {
      size_t captions = 0;
      for (const auto& [name, group] : groups) captions += group.captions.size();
      found = fmt::format("it holds {} video{} without _start/_end, {} caption{} without clips and {} other file{}",
                          loose_videos.size(), loose_videos.size() == 1 ? "" : "s", captions,
                          captions == 1 ? "" : "s", other_files.size(), other_files.size() == 1 ? "" : "s");
    }
    problems.push_back({{"body", "training_data_url"},
                        fmt::format("{} has no clip pairs: {}. Name each pair <name>_start.<ext> (reference) and "
                                    "<name>_end.<ext> (target) with ext {}, and optionally <name>.txt (caption)",
                                    archive_name, found, kAccepted),
                        "value_error"});
  }
  return match;
}

PairMatch match_pairs(const std::vector<ExtractedFile>& files, const std::string& archive_name) {
  PairMatch match = inspect_pairs(files, archive_name);
  if (!match.problems.empty()) throw core::DatasetRejected(match.problems);
  auto& log = core::logger("dataset");
  for (const auto& warning : match.warnings) log.warn("{}", warning);
  return match;
}

}  // namespace avtrain::dataset
