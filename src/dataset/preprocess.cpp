#include "dataset/preprocess.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/tensor_io.h"
#include "core/utf8.h"
#include "media/audio_fit.h"
#include "media/buffers.h"
#include "media/media_encoder.h"
#include "media/video_fit.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;

// Audio shorter than its window by less than this (AAC priming, container rounding) is not worth a
// warning; media pads it silently too.
constexpr double kPaddingWorthWarning = 0.05;

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n\f\v");
  return text.substr(first, last - first + 1);
}

std::string read_caption(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text{std::istreambuf_iterator<char>(in), {}};
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // UTF-8 byte order mark
  return trimmed(text);
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  fs::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw core::InternalError("cannot write " + temporary.string() + " (disk full?)");
  }
  fs::rename(temporary, path);
}

core::Problem problem_at(const std::string& entry, std::string msg) {
  return {{"body", "training_data_url", entry}, std::move(msg), "value_error"};
}

// The audio track is shorter than what the fitted window takes from it (DECISIONS.md §16).
std::optional<std::string> padding_warning(const media::MediaInfo& info, const std::string& clip,
                                           const DatasetOptions& options) {
  const double needed = options.auto_scale_input ? info.video.duration : options.window_seconds();
  if (info.audio.duration + kPaddingWorthWarning >= needed) return std::nullopt;
  return fmt::format("{}: its audio lasts {:.3f} s, the video window needs {:.3f} s: padded with silence",
                     clip, info.audio.duration, needed);
}

struct FittedPair {
  media::VideoFrames target_video, reference_video;
  media::AudioBuffer target_audio, reference_audio;
};

FittedPair fit_pair(const PairCheck& check, const DatasetOptions& options, core::Progress* progress) {
  const media::VideoFitOptions video{options.width, options.height, options.frames,
                                     static_cast<double>(options.frame_rate), options.auto_scale_input};
  const media::ReferenceScaling scaling{options.reference_downscale, options.reference_temporal};
  media::AudioFitOptions audio;
  audio.frames = options.frames;
  audio.fps = options.frame_rate;
  audio.auto_scale = options.auto_scale_input;
  audio.preserve_pitch = options.audio_preserve_pitch;
  audio.normalize = options.audio_normalize;
  audio.output_rate = 0;  // the model's front end resamples (DECISIONS.md §4)
  FittedPair fitted;
  fitted.target_video = media::fit_video(check.pair.target.path, video, progress);
  fitted.reference_video = media::fit_reference_video(check.pair.reference.path, video, scaling, progress);
  fitted.target_audio = media::fit_audio(check.pair.target.path, audio);
  fitted.reference_audio = media::fit_audio(check.pair.reference.path, audio);
  return fitted;
}

nlohmann::json options_json(const DatasetOptions& options) {
  return {{"width", options.width},
          {"height", options.height},
          {"number_of_frames", options.frames},
          {"frame_rate", options.frame_rate},
          {"reference_downscale_factor", options.reference_downscale},
          {"reference_temporal_scale_factor", options.reference_temporal},
          {"auto_scale_input", options.auto_scale_input},
          {"audio_normalize", options.audio_normalize},
          {"audio_preserve_pitch", options.audio_preserve_pitch},
          {"trigger_phrase", options.trigger_phrase}};
}

}  // namespace

at::Tensor rgb8_tensor(const media::VideoFrames& frames) {
  const auto rgb = torch::from_blob(const_cast<uint8_t*>(frames.rgb.data()),
                                    {frames.frame_count(), frames.height, frames.width, 3}, torch::kUInt8);
  return rgb.permute({3, 0, 1, 2}).contiguous();
}

at::Tensor video_tensor(const at::Tensor& stored) {
  if (stored.scalar_type() != torch::kUInt8) return stored;
  return stored.to(torch::kFloat32).div(127.5).sub(1.0);
}

at::Tensor video_tensor(const media::VideoFrames& frames) { return video_tensor(rgb8_tensor(frames)); }

at::Tensor audio_tensor(const media::AudioBuffer& audio) {
  return torch::from_blob(const_cast<float*>(audio.samples.data()), {audio.channels, audio.frames()},
                          torch::kFloat32)
      .clone();
}

std::string make_prompt(const std::string& trigger_phrase, const std::string& caption) {
  return trimmed(trigger_phrase + " " + caption);
}

PreparedDataset prepare_dataset(const fs::path& archive, const fs::path& work_dir,
                                const std::string& archive_name, const DatasetOptions& options, bool debug,
                                const ArchiveLimits& limits, core::Progress* progress) {
  auto& log = core::logger("dataset");
  PreparedDataset prepared;
  {
    std::optional<core::Progress> check_progress;
    if (progress) check_progress = progress->stage("check", 0.0, 0.2);
    prepared.report = check_dataset(archive, work_dir / "extracted", archive_name, options, limits,
                                    check_progress ? &*check_progress : nullptr);
  }
  throw_if_rejected(prepared.report);
  fs::create_directories(work_dir / "pairs");
  if (debug) fs::create_directories(work_dir / "debug");

  std::vector<core::Problem> problems;
  std::vector<const PairCheck*> qualifying;
  for (const auto& check : prepared.report.pairs) {
    if (check.qualifies) qualifying.push_back(&check);
  }
  for (size_t pair_idx = 0; pair_idx < qualifying.size(); ++pair_idx) {
    const PairCheck& check = *qualifying[pair_idx];
    std::optional<core::Progress> pair_progress;
    if (progress) {
      progress->throw_if_cancelled();
      pair_progress = progress->stage(check.pair.name, 0.2 + 0.8 * pair_idx / qualifying.size(),
                                      0.2 + 0.8 * (pair_idx + 1) / qualifying.size());
    }
    FittedPair fitted;
    try {
      fitted = fit_pair(check, options, pair_progress ? &*pair_progress : nullptr);
    } catch (const core::InvalidInput& error) {  // a clip that probes but does not decode
      problems.push_back(problem_at(
          check.pair.target.archive_path,
          fmt::format(
              "{}: the pair {} cannot be preprocessed: {}", archive_name, check.pair.name,
              in_archive_terms(in_archive_terms(error.what(), check.pair.target), check.pair.reference))));
      continue;
    }
    PreparedPair pair;
    pair.name = check.pair.name;
    // A missing caption was already warned about by check_dataset (DECISIONS.md §18).
    const std::string caption = check.pair.caption ? read_caption(check.pair.caption->path) : "";
    if (const auto why = core::invalid_utf8_at(caption)) {
      problems.push_back(
          problem_at(check.pair.caption->archive_path,
                     fmt::format("{}: the caption {} is not UTF-8 text (byte {} starts no valid "
                                 "character); save it as UTF-8",
                                 archive_name, check.pair.caption->archive_path, *why)));
      continue;
    }
    pair.prompt = make_prompt(options.trigger_phrase, caption);
    for (const bool is_reference : {true, false}) {
      const auto& info = is_reference ? check.reference : check.target;
      const auto& file = is_reference ? check.pair.reference : check.pair.target;
      const auto& audio = is_reference ? fitted.reference_audio : fitted.target_audio;
      if (auto warning = padding_warning(info, file.archive_path, options)) pair.warnings.push_back(*warning);
      if (media::peak(audio) == 0.0f) {
        pair.warnings.push_back(fmt::format(
            "{}: its audio is digital silence in the window; left unnormalized", file.archive_path));
      }
    }
    pair.target_frames = fitted.target_video.frame_count();
    pair.reference_frames = fitted.reference_video.frame_count();
    pair.target_sample_rate = fitted.target_audio.sample_rate;
    pair.reference_sample_rate = fitted.reference_audio.sample_rate;
    pair.tensors = work_dir / "pairs" / (pair.name + ".safetensors");
    core::write_tensors(pair.tensors,
                        {{kTargetVideoKey, rgb8_tensor(fitted.target_video)},
                         {kReferenceVideoKey, rgb8_tensor(fitted.reference_video)},
                         {kTargetAudioKey, audio_tensor(fitted.target_audio)},
                         {kReferenceAudioKey, audio_tensor(fitted.reference_audio)}},
                        {{"name", pair.name},
                         {"prompt", pair.prompt},
                         {"frame_rate", std::to_string(options.frame_rate)},
                         {"reference_fps", fmt::format("{}", fitted.reference_video.fps)},
                         {"target_sample_rate", std::to_string(pair.target_sample_rate)},
                         {"reference_sample_rate", std::to_string(pair.reference_sample_rate)}});
    if (debug) {
      pair.debug_reference = work_dir / "debug" / (pair.name + "_reference.mp4");
      pair.debug_target = work_dir / "debug" / (pair.name + "_target.mp4");
      media::write_mp4(pair.debug_reference, fitted.reference_video, &fitted.reference_audio);
      media::write_mp4(pair.debug_target, fitted.target_video, &fitted.target_audio);
      write_text_atomically(work_dir / "debug" / (pair.name + ".txt"), pair.prompt + "\n");
    }
    for (const auto& warning : pair.warnings) {
      log.warn("{}: pair {}: {}", archive_name, pair.name, warning);
      prepared.report.warnings.push_back(fmt::format("{}: pair {}: {}", archive_name, pair.name, warning));
    }
    log.debug("{}: prepared {}: target {} frames, reference {} frames, audio {} / {} Hz", archive_name,
              pair.name, pair.target_frames, pair.reference_frames, pair.target_sample_rate,
              pair.reference_sample_rate);
    prepared.pairs.push_back(std::move(pair));
  }
  if (!problems.empty()) throw core::DatasetRejected(std::move(problems));

  nlohmann::json manifest = to_json(prepared.report);
  manifest["options"] = options_json(options);
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& pair : prepared.pairs) {
    pairs.push_back({{"name", pair.name},
                     {"tensors", fs::relative(pair.tensors, work_dir).string()},
                     {"prompt", pair.prompt},
                     {"target_frames", pair.target_frames},
                     {"reference_frames", pair.reference_frames},
                     {"target_sample_rate", pair.target_sample_rate},
                     {"reference_sample_rate", pair.reference_sample_rate},
                     {"warnings", pair.warnings}});
  }
  manifest["prepared"] = std::move(pairs);
  prepared.manifest = work_dir / "manifest.json";
  write_text_atomically(prepared.manifest, core::json_text(manifest, 2) + "\n");
  log.info("{}: prepared {} pairs ({}x{}, {} frames at {} fps)", archive_name, prepared.pairs.size(),
           options.width, options.height, options.frames, options.frame_rate);
  return prepared;
}

}  // namespace avtrain::dataset
