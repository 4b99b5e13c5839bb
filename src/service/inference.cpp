#include "service/inference.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "dataset/preprocess.h"
#include "media/audio_fit.h"
#include "media/buffers.h"
#include "media/media_encoder.h"
#include "media/probe.h"
#include "media/video_fit.h"
#include "models/audio/audio_vae_encoder.h"
#include "models/text/prompt_cache.h"
#include "models/text/prompt_encoder.h"
#include "models/tiny.h"
#include "models/video_vae/video_vae_encoder.h"
#include "sample/decoding.h"
#include "sample/generation.h"
#include "sample/reference_encoding.h"
#include "train/lora.h"
#include "train/lora_file.h"

namespace avtrain::service {
namespace {

// The LoRA's factor, or the caller's with a warning when it differs (the LoRA learned its own).
int reference_factor(int chosen, int64_t from_lora, const char* key) {
  if (chosen == 0) return static_cast<int>(from_lora);
  if (chosen != from_lora) {
    core::logger("infer").warn(
        "{} {} differs from the LoRA's {}: the LoRA was trained with {}, so results will likely degrade", key,
        chosen, from_lora, from_lora);
  }
  return chosen;
}

}  // namespace

void run_inference(const InferenceSettings& settings, const models::ModelFiles& files,
                   const std::filesystem::path& out, core::Progress& progress) {
  auto& log = core::logger("infer");
  const VideoSize size = settings.size;
  const int frames = settings.frames;
  // The LoRA's reference scaling (DECISIONS.md §26), mirrored unless overridden.
  const auto lora_file = core::SafetensorsFile::open(settings.lora);
  const auto lora_info = train::read_lora_file_info(lora_file.metadata());
  const int d = reference_factor(settings.downscale, lora_info.spatial_factor, "reference_downscale_factor");
  const int s =
      reference_factor(settings.temporal, lora_info.temporal_factor, "reference_temporal_scale_factor");
  if (!downscale_fits(size, d)) {
    throw core::InvalidInput("reference downscale factor " + std::to_string(d) + " does not fit " +
                             to_string(size) + ": " + downscale_misfit(size, d));
  }
  if (!temporal_factor_fits(frames, s)) {
    throw core::InvalidInput("reference temporal scale factor " + std::to_string(s) + " does not fit " +
                             std::to_string(frames) + " frames: (frames - 1) must be a multiple of " +
                             std::to_string(8 * s));
  }
  if (!lora_info.trigger_phrase.empty() &&
      settings.prompt.find(lora_info.trigger_phrase) == std::string::npos) {
    log.warn("the prompt lacks the LoRA's trigger phrase \"{}\"", lora_info.trigger_phrase);
  }

  const auto device = settings.device;
  const auto dtype = settings.dtype;
  const auto options = torch::TensorOptions().dtype(dtype).device(device);

  // Reference media, fitted as training fits it (DECISIONS.md §10-16): the video at (W/d, H/d) and
  // frames [0, 1, 1+S, ...]; the audio (its own file, else the video's track, §19) over [0, F/fps).
  const media::VideoFitOptions video_fit{size.width, size.height, frames, static_cast<double>(settings.fps),
                                         settings.auto_scale};
  const auto reference_frames =
      media::fit_reference_video(settings.reference_video, video_fit, media::ReferenceScaling{d, s});
  media::AudioFitOptions audio_fit;
  audio_fit.frames = frames;
  audio_fit.fps = settings.fps;
  audio_fit.auto_scale = settings.auto_scale;
  const auto audio_path =
      settings.reference_audio.empty() ? settings.reference_video : settings.reference_audio;
  // A separate audio file is stretched with its video when auto-scaled: it has no video timing of its own.
  if (!settings.reference_audio.empty() && settings.auto_scale) {
    audio_fit.video_duration = media::probe(settings.reference_video).video.duration;
  }
  const auto reference_audio = media::fit_audio(audio_path, audio_fit);
  log.info(
      "reference: {} frames of {}x{} at {:.4g} fps (d = {}, S = {}; positions x{} in space, fps / {} in "
      "time), "
      "audio {:.3f} s from {}",
      reference_frames.frame_count(), reference_frames.width, reference_frames.height, reference_frames.fps,
      d, s, d, s, reference_audio.duration(), audio_path.filename().string());

  const auto checkpoint =
      std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open(files.checkpoint));

  // Text first, so that Gemma is released before the transformer loads (models/text/prompt_encoder.h).
  models::text::PromptCache cache(
      models::default_cache_dir() / "prompts",
      models::text::text_path_fingerprint(files.text_encoder_dir, *checkpoint, dtype));
  const auto contexts =
      models::text::encode_prompts({settings.prompt, settings.negative_prompt}, files.text_encoder_dir,
                                   checkpoint, cache, {device, dtype});

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
  request.fps = settings.fps;
  request.spatial_factor = d;
  request.temporal_factor = s;
  request.settings.steps = settings.steps;
  request.settings.seed = settings.seed;
  request.settings.stg_scale = settings.stg_scale;

  auto sampling = sample::load_sampling_models(checkpoint, options);
  const int fused = train::fuse_lora_file(*sampling.transformer, settings.lora, settings.lora_strength);
  log.info("LoRA {} fused into {} layers at strength {}", settings.lora.filename().string(), fused,
           settings.lora_strength);
  auto generation = progress.stage("sampling", 0.0, 1.0);
  const auto generated = sample::generate_validation_sample(sampling, request, &generation);
  progress.finish();

  media::VideoFrames video;
  video.width = size.width;
  video.height = size.height;
  video.fps = settings.fps;
  const auto rgb = sample::to_rgb8(generated.video);
  video.rgb.resize(static_cast<size_t>(rgb.numel()));
  std::memcpy(video.rgb.data(), rgb.data_ptr<uint8_t>(), video.rgb.size());
  media::AudioBuffer audio;
  audio.sample_rate = static_cast<int>(generated.audio.sample_rate);
  audio.channels = static_cast<int>(generated.audio.samples.size(0));
  const auto samples = generated.audio.samples.contiguous();  // [channels, N]: planar already
  audio.samples.assign(samples.data_ptr<float>(), samples.data_ptr<float>() + samples.numel());
  media::write_mp4(out, video, &audio);
  log.info("wrote {}: {} frames {}x{} at {} fps, audio {:.3f} s", out.filename().string(),
           video.frame_count(), video.width, video.height, settings.fps, audio.duration());
}

}  // namespace avtrain::service
