// `avtrain infer`: applies a trained IC-LoRA to a new reference clip (MISSION.md "Inference"). The LoRA's
// reference-scaling metadata (DECISIONS.md §26) sets how the reference is fitted: downscaled by d,
// subsampled by S, its positions scaled to match, as in training (trainer.md §5.2-5.3); the LoRA is fused
// into the base weights (strength x B@A). Sampling follows validation (DECISIONS.md §23) and the result,
// the generated clip with its audio, is written as mp4 (H.264 + AAC 48 kHz, DECISIONS.md §25).
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "dataset/preprocess.h"
#include "media/audio_fit.h"
#include "media/buffers.h"
#include "media/media_encoder.h"
#include "media/probe.h"
#include "media/video_fit.h"
#include "models/audio/audio_vae_encoder.h"
#include "models/checkpoint.h"
#include "models/text/prompt_cache.h"
#include "models/text/prompt_encoder.h"
#include "models/tiny.h"
#include "models/video_vae/video_vae_encoder.h"
#include "sample/decoding.h"
#include "sample/generation.h"
#include "sample/reference_encoding.h"
#include "service/request/buckets.h"
#include "service/request/training_request.h"
#include "train/lora.h"
#include "train/lora_file.h"

namespace avtrain::cli {
namespace {

struct InferArguments {
  std::string model, text_encoder, lora, reference_video, reference_audio, prompt, out;
  std::string negative_prompt{service::kDefaultValidationNegativePrompt};
  int frames = 89;
  int fps = 24;
  std::string resolution = "high";
  std::string aspect_ratio = "1:1";
  int steps = 30;
  uint64_t seed = 42;
  double lora_strength = 1.0;
  double stg_scale = 1.0;
  int downscale = 0, temporal = 0;  // overrides of the LoRA's metadata; 0: the LoRA's
  bool auto_scale = false;
  std::string device = "auto";
  std::string dtype = "auto";
};

// "low" / "medium" / "high" with the aspect ratio (MISSION.md buckets), or an explicit "WxH".
service::VideoSize output_size(const std::string& resolution, const std::string& aspect_ratio) {
  const auto x = resolution.find('x');
  if (x != std::string::npos) {
    try {
      size_t used_w = 0, used_h = 0;
      const int width = std::stoi(resolution.substr(0, x), &used_w);
      const int height = std::stoi(resolution.substr(x + 1), &used_h);
      if (used_w == x && used_h == resolution.size() - x - 1) return {width, height};
    } catch (const std::exception&) {
    }
    throw core::InvalidInput("--resolution " + resolution + ": expected low, medium, high or WIDTHxHEIGHT");
  }
  const auto parsed_resolution = service::parse_resolution(resolution);
  const auto parsed_aspect = service::parse_aspect_ratio(aspect_ratio);
  if (!parsed_resolution)
    throw core::InvalidInput("--resolution " + resolution + ": use low, medium, high or WxH");
  if (!parsed_aspect) throw core::InvalidInput("--aspect-ratio " + aspect_ratio + ": use 16:9, 1:1 or 9:16");
  return service::bucket_size(*parsed_resolution, *parsed_aspect);
}

// The LoRA's factor, or the user's with a warning when it differs (the LoRA learned its own).
int reference_factor(int user, int64_t from_lora, const char* option, const char* key) {
  if (user == 0) return static_cast<int>(from_lora);
  if (user < 1 || user > service::kMaxReferenceScaleFactor) {
    throw core::InvalidInput(std::string(option) + " " + std::to_string(user) + ": use 1.." +
                             std::to_string(service::kMaxReferenceScaleFactor));
  }
  if (user != from_lora) {
    core::logger("cli").warn(
        "{} {} differs from the LoRA's {} = {}: the LoRA was trained with {}, so results will likely degrade",
        option, user, key, from_lora, from_lora);
  }
  return user;
}

torch::ScalarType pick_dtype(const std::string& text, torch::Device device) {
  // bf16 as the reference on GPUs; float32 on the CPU, where LibTorch's bf16 kernels are slow.
  if (text == "auto") return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (text == "bfloat16" || text == "bf16") return torch::kBFloat16;
  if (text == "float32" || text == "fp32") return torch::kFloat32;
  throw core::InvalidInput("--dtype " + text + ": use auto, bfloat16 or float32");
}

int run_infer(const InferArguments& args) {
  auto& log = core::logger("cli");
  // Frame counts snap down to 8k+1 as in requests (MISSION.md, DECISIONS.md §14).
  if (args.frames < service::kMinFrameCount) {
    throw core::InvalidInput("--frames " + std::to_string(args.frames) + ": at least " +
                             std::to_string(service::kMinFrameCount));
  }
  const int frames = service::snap_frame_count(args.frames);
  if (frames != args.frames)
    log.info("--frames {} snapped down to {} (frame counts are 8k+1)", args.frames, frames);
  if (args.fps < 1) throw core::InvalidInput("--fps " + std::to_string(args.fps) + ": must be positive");
  if (args.steps < 2) throw core::InvalidInput("--steps " + std::to_string(args.steps) + ": at least 2");
  const auto size = output_size(args.resolution, args.aspect_ratio);
  if (size.width % service::kVaeSpatialCompression != 0 ||
      size.height % service::kVaeSpatialCompression != 0 || size.width <= 0 || size.height <= 0) {
    throw core::InvalidInput("--resolution " + service::to_string(size) +
                             ": width and height must be multiples of " +
                             std::to_string(service::kVaeSpatialCompression));
  }

  // The LoRA's reference scaling (DECISIONS.md §26), mirrored unless overridden.
  const auto lora_file = core::SafetensorsFile::open(args.lora);
  const auto lora_info = train::read_lora_file_info(lora_file.metadata());
  const int d = reference_factor(args.downscale, lora_info.spatial_factor, "--reference-downscale-factor",
                                 "reference_downscale_factor");
  const int s = reference_factor(args.temporal, lora_info.temporal_factor,
                                 "--reference-temporal-scale-factor", "reference_temporal_scale_factor");
  if (!service::downscale_fits(size, d)) {
    throw core::InvalidInput("reference downscale factor " + std::to_string(d) + " does not fit " +
                             service::to_string(size) + ": " + service::downscale_misfit(size, d));
  }
  if (!service::temporal_factor_fits(frames, s)) {
    throw core::InvalidInput("reference temporal scale factor " + std::to_string(s) + " does not fit " +
                             std::to_string(frames) + " frames: (frames - 1) must be a multiple of " +
                             std::to_string(8 * s));
  }
  if (!lora_info.trigger_phrase.empty() && args.prompt.find(lora_info.trigger_phrase) == std::string::npos) {
    log.warn("the prompt lacks the LoRA's trigger phrase \"{}\"", lora_info.trigger_phrase);
  }

  const auto device = core::parse_device(args.device);
  const auto dtype = pick_dtype(args.dtype, device);
  const auto options = torch::TensorOptions().dtype(dtype).device(device);

  // Reference media, fitted as training fits it (DECISIONS.md §10-16): the video at (W/d, H/d) and
  // frames [0, 1, 1+S, ...]; the audio (its own file, else the video's track, §19) over [0, F/fps).
  const media::VideoFitOptions video_fit{size.width, size.height, frames, static_cast<double>(args.fps),
                                         args.auto_scale};
  const auto reference_frames =
      media::fit_reference_video(args.reference_video, video_fit, media::ReferenceScaling{d, s});
  media::AudioFitOptions audio_fit;
  audio_fit.frames = frames;
  audio_fit.fps = args.fps;
  audio_fit.auto_scale = args.auto_scale;
  const auto audio_path = args.reference_audio.empty() ? args.reference_video : args.reference_audio;
  // A separate audio file is stretched with its video when auto-scaled: it has no video timing of its own.
  if (!args.reference_audio.empty() && args.auto_scale) {
    audio_fit.video_duration = media::probe(args.reference_video).video.duration;
  }
  const auto reference_audio = media::fit_audio(audio_path, audio_fit);
  log.info(
      "reference: {} frames of {}x{} at {:.4g} fps (d = {}, S = {}; positions x{} in space, fps / {} in "
      "time), "
      "audio {:.3f} s from {}",
      reference_frames.frame_count(), reference_frames.width, reference_frames.height, reference_frames.fps,
      d, s, d, s, reference_audio.duration(), audio_path);

  // The media are checked before any model is read (or the tiny model generated).
  const auto files = models::resolve_model_files(args.model, args.text_encoder);
  const auto checkpoint =
      std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open(files.checkpoint));
  core::Progress progress("infer");

  // Text first, so that Gemma is released before the transformer loads (models/text/prompt_encoder.h).
  models::text::PromptCache cache(
      models::default_cache_dir() / "prompts",
      models::text::text_path_fingerprint(files.text_encoder_dir, *checkpoint, dtype));
  const auto contexts = models::text::encode_prompts(
      {args.prompt, args.negative_prompt}, files.text_encoder_dir, checkpoint, cache, {device, dtype});

  sample::SampleRequest request;
  {
    auto video_encoder = models::load_video_vae_encoder(checkpoint, options);
    request.reference_video_latent =
        sample::encode_reference_video(*video_encoder, dataset::video_tensor(reference_frames));
    auto audio_encoder = models::load_audio_vae_encoder(checkpoint, options);
    request.reference_audio_latent = sample::encode_reference_audio(
        *audio_encoder, dataset::audio_tensor(reference_audio), reference_audio.sample_rate);
  }
  request.prompt = contexts.at(0);
  request.negative_prompt = contexts.at(1);
  request.frames = frames;
  request.width = size.width;
  request.height = size.height;
  request.fps = args.fps;
  request.spatial_factor = d;
  request.temporal_factor = s;
  request.settings.steps = args.steps;
  request.settings.seed = args.seed;
  request.settings.stg_scale = args.stg_scale;

  auto sampling = sample::load_sampling_models(checkpoint, options);
  const int fused = train::fuse_lora_file(*sampling.transformer, args.lora, args.lora_strength);
  log.info("LoRA {} fused into {} layers at strength {}", args.lora, fused, args.lora_strength);
  auto generation = progress.stage("sampling", 0.0, 1.0);
  const auto generated = sample::generate_validation_sample(sampling, request, &generation);
  progress.finish();

  media::VideoFrames video;
  video.width = size.width;
  video.height = size.height;
  video.fps = args.fps;
  const auto rgb = sample::to_rgb8(generated.video);
  video.rgb.resize(static_cast<size_t>(rgb.numel()));
  std::memcpy(video.rgb.data(), rgb.data_ptr<uint8_t>(), video.rgb.size());
  media::AudioBuffer audio;
  audio.sample_rate = static_cast<int>(generated.audio.sample_rate);
  audio.channels = static_cast<int>(generated.audio.samples.size(0));
  const auto samples = generated.audio.samples.contiguous();  // [channels, N]: planar already
  audio.samples.assign(samples.data_ptr<float>(), samples.data_ptr<float>() + samples.numel());
  media::write_mp4(args.out, video, &audio);
  log.info("wrote {}: {} frames {}x{} at {} fps, audio {:.3f} s", args.out, video.frame_count(), video.width,
           video.height, args.fps, audio.duration());
  return 0;
}

Action add_infer(CLI::App& command) {
  auto args = std::make_shared<InferArguments>();
  command.add_option("--model", args->model, "LTX-2.3 checkpoint (.safetensors), or \"tiny\"")->required();
  command.add_option("--text-encoder", args->text_encoder, "Gemma 3 directory, or \"tiny\"")->required();
  command.add_option("--lora", args->lora, "trained LoRA (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  command.add_option("--reference-video", args->reference_video, "reference clip")
      ->required()
      ->check(CLI::ExistingFile);
  command
      .add_option("--reference-audio", args->reference_audio,
                  "reference audio (default: the clip's own track)")
      ->check(CLI::ExistingFile);
  command.add_option("--prompt", args->prompt, "prompt (with the LoRA's trigger phrase)")->required();
  command.add_option("--negative-prompt", args->negative_prompt,
                     "negative prompt (default: the built-in one)");
  command.add_option("--frames", args->frames, "frames (snapped down to 8k+1)")->capture_default_str();
  command.add_option("--fps", args->fps, "frame rate")->capture_default_str();
  command.add_option("--resolution", args->resolution, "low, medium, high or WIDTHxHEIGHT")
      ->capture_default_str();
  command.add_option("--aspect-ratio", args->aspect_ratio, "16:9, 1:1 or 9:16")->capture_default_str();
  command.add_option("--steps", args->steps, "denoising steps")->capture_default_str();
  command.add_option("--seed", args->seed, "noise seed")->capture_default_str();
  command.add_option("--lora-strength", args->lora_strength, "LoRA strength")->capture_default_str();
  command.add_option("--stg-scale", args->stg_scale, "spatio-temporal guidance scale")->capture_default_str();
  command.add_option("--reference-downscale-factor", args->downscale,
                     "reference spatial factor d (default: the LoRA's metadata)");
  command.add_option("--reference-temporal-scale-factor", args->temporal,
                     "reference temporal factor S (default: the LoRA's metadata)");
  command.add_flag("--auto-scale", args->auto_scale, "fit the whole reference clip to the frame count");
  command.add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  command.add_option("--dtype", args->dtype, "auto (bf16 on GPU, float32 on CPU), bfloat16 or float32")
      ->capture_default_str();
  command.add_option("--out", args->out, "output .mp4")->required();
  return [args] { return run_infer(*args); };
}

const bool registered = register_command(
    {"infer", "Apply a trained IC-LoRA to a new reference clip and write the generated mp4", add_infer});

}  // namespace
}  // namespace avtrain::cli
