// `avtrain media probe FILE` and `avtrain media fit FILE ...`: what training will see of a clip.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "media/audio_fit.h"
#include "media/media_encoder.h"
#include "media/probe.h"
#include "media/video_fit.h"

namespace avtrain::cli {
namespace {

struct BucketSize {
  int width, height;
};

// The resolution buckets of MISSION.md (width x height), used here only to show users what training sees;
// the request contract validates them.
BucketSize bucket_size(const std::string& resolution, const std::string& aspect_ratio) {
  static const std::map<std::pair<std::string, std::string>, BucketSize> kBuckets = {
      {{"low", "16:9"}, {512, 288}},    {{"low", "1:1"}, {512, 512}},    {{"low", "9:16"}, {288, 512}},
      {{"medium", "16:9"}, {768, 448}}, {{"medium", "1:1"}, {768, 768}}, {{"medium", "9:16"}, {448, 768}},
      {{"high", "16:9"}, {960, 544}},   {{"high", "1:1"}, {960, 960}},   {{"high", "9:16"}, {544, 960}},
  };
  const auto found = kBuckets.find({resolution, aspect_ratio});
  if (found == kBuckets.end()) {
    throw core::InvalidInput("--resolution " + resolution + " --aspect-ratio " + aspect_ratio +
                             " is not a bucket: use low, medium or high with 16:9, 1:1 or 9:16");
  }
  return found->second;
}

struct FitArguments {
  std::string file;
  int frames = 89;
  int fps = 24;
  std::string resolution = "medium";
  std::string aspect_ratio = "1:1";
  bool auto_scale = false;
  bool no_preserve_pitch = false;
  bool no_normalize = false;
  int downscale = 1;
  int temporal = 1;
  std::string out;
};

int run_fit(const FitArguments& args) {
  auto& log = core::logger("media");
  // number_of_frames snaps down to 8k+1 (MISSION.md).
  const int frames = args.frames < 1 ? args.frames : (args.frames - 1) / 8 * 8 + 1;
  if (frames != args.frames)
    log.info("--frames {} snapped down to {} (frame counts are 8k+1)", args.frames, frames);
  if (frames < 1 || args.fps < 1) throw core::InvalidInput("--frames and --fps must be positive");
  const auto [width, height] = bucket_size(args.resolution, args.aspect_ratio);
  const media::VideoFitOptions fit{width, height, frames, static_cast<double>(args.fps), args.auto_scale};
  const media::ReferenceScaling scaling{args.downscale, args.temporal};
  core::Progress progress("fit");
  const media::VideoFrames video = media::fit_reference_video(args.file, fit, scaling, &progress);
  progress.finish();

  const media::MediaInfo info = media::probe(args.file);
  if (!info.audio.present) {
    log.warn("{}: has no audio track (training rejects such clips); writing video only", args.file);
    media::write_mp4(args.out, video, nullptr);
  } else {
    media::AudioFitOptions audio_fit;
    audio_fit.frames = frames;
    audio_fit.fps = args.fps;
    audio_fit.auto_scale = args.auto_scale;
    audio_fit.preserve_pitch = !args.no_preserve_pitch;
    audio_fit.normalize = !args.no_normalize;
    audio_fit.output_rate = media::kOutputSampleRate;
    const media::AudioBuffer audio = media::fit_audio(args.file, audio_fit);
    media::write_mp4(args.out, video, &audio);
  }
  log.info("{}: {} frames {}x{} at {:.4g} fps{} -> {}", args.file, video.frame_count(), video.width,
           video.height, video.fps, args.downscale != 1 || args.temporal != 1 ? " (reference variant)" : "",
           args.out);
  return 0;
}

Action add_media(CLI::App& command) {
  command.require_subcommand(1);
  auto probe_file = std::make_shared<std::string>();
  auto* probe =
      command.add_subcommand("probe", "Print a media file's container, video and audio streams as JSON");
  probe->add_option("file", *probe_file, "video file")->required();

  auto args = std::make_shared<FitArguments>();
  auto* fit =
      command.add_subcommand("fit", "Write a clip fitted as training sees it (bucket, fps, frames, audio)");
  fit->add_option("file", args->file, "video file")->required();
  fit->add_option("--frames", args->frames, "number_of_frames (snapped down to 8k+1)")->capture_default_str();
  fit->add_option("--fps", args->fps, "frame_rate")->capture_default_str();
  fit->add_option("--resolution", args->resolution, "low, medium or high")->capture_default_str();
  fit->add_option("--aspect-ratio", args->aspect_ratio, "16:9, 1:1 or 9:16")->capture_default_str();
  fit->add_flag("--auto-scale", args->auto_scale, "fit the whole clip to the frame count (auto_scale_input)");
  fit->add_flag("--no-preserve-pitch", args->no_preserve_pitch, "stretch audio by resampling (pitch moves)");
  fit->add_flag("--no-normalize", args->no_normalize, "skip peak normalization to -1 dBFS");
  fit->add_option("--downscale", args->downscale, "reference spatial downscale factor d")
      ->capture_default_str();
  fit->add_option("--temporal", args->temporal, "reference temporal scale factor S")->capture_default_str();
  fit->add_option("--out", args->out, "output .mp4")->required();

  return [probe, probe_file, fit, args]() {
    if (probe->parsed()) {
      std::cout << media::to_json(media::probe(*probe_file)) << std::endl;
      return 0;
    }
    if (fit->parsed()) return run_fit(*args);
    return 1;
  };
}

const bool registered =
    register_command({"media", "Probe a media file, or fit it as training sees it", add_media});

}  // namespace
}  // namespace avtrain::cli
