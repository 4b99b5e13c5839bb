#include "dataset/dataset_check.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/log.h"
#include "core/progress.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;

// media's fit_video accepts a clip this much shorter than F / fps (container rounding).
constexpr double kDurationTolerance = 1e-3;

core::Problem problem_at(const std::string& entry, std::string msg) {
  return {{"body", "training_data_url", entry}, std::move(msg), "value_error"};
}

std::string clip_length(const media::MediaInfo& info) {
  return fmt::format("{:.3f} s ({} frames at {:.3g} fps)", info.video.duration, info.video.frame_count,
                     info.video.fps);
}

nlohmann::json clip_json(const ExtractedFile& file, const media::MediaInfo& info) {
  return {{"file", file.archive_path},
          {"bytes", file.bytes},
          {"container", info.container},
          {"video",
           {{"codec", info.video.codec},
            {"width", info.video.display_width},
            {"height", info.video.display_height},
            {"rotation", info.video.rotation},
            {"fps", info.video.fps},
            {"frames", info.video.frame_count},
            {"duration", info.video.duration}}},
          {"audio",
           info.audio.present ? nlohmann::json{{"codec", info.audio.codec},
                                               {"sample_rate", info.audio.sample_rate},
                                               {"channels", info.audio.channels},
                                               {"duration", info.audio.duration}}
                              : nlohmann::json(nullptr)}};
}

}  // namespace

int DatasetReport::qualifying_count() const {
  return static_cast<int>(std::count_if(pairs.begin(), pairs.end(), [](const PairCheck& p) { return p.qualifies; }));
}

DatasetReport check_dataset(const fs::path& archive, const fs::path& extract_dir, const std::string& archive_name,
                            const DatasetOptions& options, const ArchiveLimits& limits, core::Progress* progress) {
  auto& log = core::logger("dataset");
  DatasetReport report;
  report.archive_name = archive_name;
  ExtractedArchive extracted;
  try {
    std::optional<core::Progress> extract_progress;
    if (progress) extract_progress = progress->stage("extract", 0.0, 0.5);
    extracted = extract_archive(archive, extract_dir, archive_name, limits,
                                extract_progress ? &*extract_progress : nullptr);
  } catch (const core::DatasetRejected& rejected) {
    report.problems = rejected.problems();
    return report;
  }
  report.archive_entries = extracted.entry_count;
  report.ignored_entries = extracted.ignored;

  PairMatch match = inspect_pairs(extracted.files, archive_name);
  report.warnings = match.warnings;
  report.problems = match.problems;

  const double needed = options.window_seconds();
  for (size_t pair_idx = 0; pair_idx < match.pairs.size(); ++pair_idx) {
    if (progress) {
      progress->throw_if_cancelled();
      progress->update(0.5 + 0.5 * pair_idx / match.pairs.size(), "probing " + match.pairs[pair_idx].name);
    }
    PairCheck check{match.pairs[pair_idx], {}, {}, false, {}};
    bool readable = true;
    for (const bool is_reference : {true, false}) {
      const ExtractedFile& file = is_reference ? check.pair.reference : check.pair.target;
      const ExtractedFile& partner = is_reference ? check.pair.target : check.pair.reference;
      media::MediaInfo& info = is_reference ? check.reference : check.target;
      try {
        info = media::probe(file.path);
      } catch (const core::Error& error) {
        readable = false;
        report.problems.push_back(problem_at(
            file.archive_path, fmt::format("{}: {} cannot be read as a video ({}); re-export it (H.264 or VP9 with "
                                           "AAC or Opus audio) or remove the pair",
                                           archive_name, file.archive_path, in_archive_terms(error.what(), file))));
        continue;
      }
      if (!info.audio.present) {
        readable = false;
        report.problems.push_back(problem_at(
            file.archive_path,
            fmt::format("{}: {} has no audio track; both clips of a pair need one (its {} is {}). Add audio or remove "
                        "the pair",
                        archive_name, file.archive_path, is_reference ? "target" : "reference", partner.archive_path)));
      }
    }
    if (readable && !options.auto_scale_input) {
      const bool reference_short = check.reference.video.duration + kDurationTolerance < needed;
      const bool target_short = check.target.video.duration + kDurationTolerance < needed;
      if (reference_short || target_short) {
        check.skip_reason = fmt::format(
            "reference {} lasts {}, target {} lasts {}; {} frames at {} fps need {:.3f} s, so {} too short. Use "
            "longer clips, fewer frames, or auto_scale_input",
            check.pair.reference.archive_path, clip_length(check.reference), check.pair.target.archive_path,
            clip_length(check.target), options.frames, options.frame_rate, needed,
            reference_short && target_short ? "both are" : reference_short ? "the reference is" : "the target is");
        report.warnings.push_back(fmt::format("{}: skipped the pair {}: {}", archive_name, check.pair.name,
                                              check.skip_reason));
      }
    }
    check.qualifies = readable && check.skip_reason.empty();
    if (check.qualifies && !check.pair.caption) {
      report.warnings.push_back(fmt::format("{}: the pair {} has no caption ({}.txt): its prompt is {}", archive_name,
                                            check.pair.name, check.pair.name,
                                            options.trigger_phrase.empty() ? std::string("empty")
                                                                           : "the trigger phrase alone"));
    }
    report.pairs.push_back(std::move(check));
  }

  const int qualifying = report.qualifying_count();
  if (!report.pairs.empty() && qualifying == 0 && report.problems.empty()) {
    report.problems.push_back(
        {{"body", "training_data_url"},
         fmt::format("{}: no pair is long enough for {} frames at {} fps ({:.3f} s); every pair was skipped (see the "
                     "warnings). Use longer clips, fewer frames (number_of_frames) or auto_scale_input",
                     archive_name, options.frames, options.frame_rate, needed),
         "value_error"});
  }
  if (!report.rejected() && qualifying < kRecommendedPairCount) {
    report.warnings.push_back(fmt::format("{}: {} qualifying pair{}; training works, but aim for at least {}",
                                          archive_name, qualifying, qualifying == 1 ? "" : "s",
                                          kRecommendedPairCount));
  }
  for (const auto& warning : report.warnings) log.warn("{}", warning);
  const auto skipped = std::count_if(report.pairs.begin(), report.pairs.end(),
                                     [](const PairCheck& p) { return !p.skip_reason.empty(); });
  log.info("{}: {} pairs, {} qualifying, {} skipped, {} problems", archive_name, report.pairs.size(), qualifying,
           skipped, report.problems.size());
  return report;
}

void throw_if_rejected(const DatasetReport& report) {
  if (report.rejected()) throw core::DatasetRejected(report.problems);
}

nlohmann::json to_json(const DatasetReport& report) {
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& check : report.pairs) {
    nlohmann::json pair = {{"name", check.pair.name},
                           {"decision", check.qualifies ? "used" : check.skip_reason.empty() ? "rejected" : "skipped"},
                           {"caption_file", check.pair.caption ? nlohmann::json(check.pair.caption->archive_path)
                                                               : nlohmann::json(nullptr)}};
    pair["reference"] = clip_json(check.pair.reference, check.reference);
    pair["target"] = clip_json(check.pair.target, check.target);
    if (!check.skip_reason.empty()) pair["skip_reason"] = check.skip_reason;
    pairs.push_back(std::move(pair));
  }
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& problem : report.problems) {
    problems.push_back({{"loc", problem.loc}, {"msg", problem.msg}, {"type", problem.type}});
  }
  return {{"archive", report.archive_name},
          {"archive_entries", report.archive_entries},
          {"ignored_entries", report.ignored_entries},
          {"pairs", std::move(pairs)},
          {"qualifying_pairs", report.qualifying_count()},
          {"warnings", report.warnings},
          {"problems", std::move(problems)},
          {"rejected", report.rejected()}};
}

std::string to_text(const DatasetReport& report) {
  std::string text = fmt::format("{}: {} entries, {} ignored (hidden or macOS metadata)\n", report.archive_name,
                                 report.archive_entries, report.ignored_entries.size());
  text += fmt::format("pairs: {} matched, {} qualifying\n", report.pairs.size(), report.qualifying_count());
  for (const auto& check : report.pairs) {
    const std::string decision = check.qualifies ? "ok     " : check.skip_reason.empty() ? "error  " : "skipped";
    text += fmt::format("  {} {}: {} ({:.2f} s) -> {} ({:.2f} s){}\n", decision, check.pair.name,
                        check.pair.reference.archive_path, check.reference.video.duration,
                        check.pair.target.archive_path, check.target.video.duration,
                        check.pair.caption ? ", caption " + check.pair.caption->archive_path : ", no caption");
  }
  std::vector<const PairCheck*> skipped;
  for (const auto& check : report.pairs) {
    if (!check.skip_reason.empty()) skipped.push_back(&check);
  }
  if (!skipped.empty()) {
    text += fmt::format("skipped: {}\n", skipped.size());
    for (const auto* check : skipped) text += fmt::format("  {}: {}\n", check->pair.name, check->skip_reason);
  }
  // Skips are listed above with their reasons; the other warnings follow.
  std::vector<std::string> warnings;
  const std::string skip_prefix = report.archive_name + ": skipped the pair ";
  for (const auto& warning : report.warnings) {
    if (!warning.starts_with(skip_prefix)) warnings.push_back(warning);
  }
  if (!warnings.empty()) {
    text += fmt::format("warnings: {}\n", warnings.size());
    for (const auto& warning : warnings) text += "  " + warning + "\n";
  }
  if (report.rejected()) {
    text += fmt::format("errors: {} (the request would be refused with HTTP 422)\n", report.problems.size());
    for (const auto& problem : report.problems) text += "  " + problem.msg + "\n";
  } else {
    text += "errors: none\n";
  }
  return text;
}

}  // namespace avtrain::dataset
