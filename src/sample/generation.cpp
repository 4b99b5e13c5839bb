#include "sample/generation.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "models/audio/audio_config.h"
#include "sample/denoising_loop.h"
#include "sample/sigma_schedule.h"

namespace avtrain::sample {
namespace {

torch::Tensor batched(const torch::Tensor& context) { return context.defined() ? context.unsqueeze(0) : context; }

void check_request(const SampleRequest& request, const models::VideoVaeConfig& vae) {
  const auto t = vae.time_factor(), s = vae.space_factor();
  std::vector<core::Problem> problems;
  if (request.frames < 1 || (request.frames - 1) % t != 0) {
    problems.push_back({{"frames"}, std::to_string(request.frames) + " frames: the count must be " + std::to_string(t) +
                                      "k + 1 (e.g. 9, 17, 89)", "value_error"});
  }
  if (request.width < s || request.width % s != 0 || request.height < s || request.height % s != 0) {
    problems.push_back({{"resolution"}, std::to_string(request.width) + "x" + std::to_string(request.height) +
                                          ": width and height must be positive multiples of " + std::to_string(s),
                        "value_error"});
  }
  if (!(request.fps > 0)) problems.push_back({{"fps"}, "the frame rate must be positive", "value_error"});
  if (request.spatial_factor < 1 || request.temporal_factor < 1) {
    problems.push_back({{"reference"}, "reference factors must be >= 1", "value_error"});
  }
  if (!request.prompt.video.defined() || !request.prompt.audio.defined()) {
    problems.push_back({{"prompt"}, "the prompt context is missing", "value_error"});
  }
  if (!problems.empty()) throw core::InvalidInput(std::move(problems));
}

}  // namespace

SamplingModels load_sampling_models(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                    torch::TensorOptions options) {
  SamplingModels m;
  m.transformer = models::load_transformer(checkpoint, options);
  m.video_decoder = models::load_video_vae_decoder(checkpoint, options);
  m.audio_decoder = models::load_audio_vae_decoder(checkpoint, options);
  m.vocoder = models::load_vocoder(checkpoint, options.device());
  return m;
}

GeneratedSample generate_validation_sample(SamplingModels& m, const SampleRequest& request, core::Progress* progress) {
  const auto& vae = m.video_decoder->config;
  const auto& audio_vae = m.audio_decoder->config;
  check_request(request, vae);
  const auto& config = m.transformer->config;
  const int64_t t = vae.time_factor(), s = vae.space_factor();
  const int64_t latent_frames = (request.frames - 1) / t + 1;
  const int64_t latent_height = request.height / s, latent_width = request.width / s;
  const int64_t audio_tokens = models::audio_latent_frames(request.frames, request.fps, audio_vae.latents_per_second());
  if (config.audio_in_channels != audio_vae.latent_features()) {
    throw core::InvalidInput("checkpoint: transformer.audio_in_channels " + std::to_string(config.audio_in_channels) +
                             " differs from the audio VAE's latent features " +
                             std::to_string(audio_vae.latent_features()));
  }

  auto video = make_video_state(request.reference_video_latent, config.in_channels, latent_frames, latent_height,
                                latent_width, request.fps, request.spatial_factor, request.temporal_factor,
                                models::VideoScaleFactors{t, s, s});
  auto audio = make_audio_state(request.reference_audio_latent, audio_tokens, audio_vae.z_channels,
                                audio_vae.latent_mel_bins(),
                                models::AudioTiming{audio_vae.sample_rate, audio_vae.hop_length,
                                                    audio_vae.downsample_factor()});
  add_initial_noise(video, audio, request.settings.seed);

  const PromptContexts contexts{batched(request.prompt.video), batched(request.negative_prompt.video),
                                batched(request.prompt.audio), batched(request.negative_prompt.audio)};
  DenoiseOptions options;
  options.video = request.settings.video_guider(config.num_layers);
  options.audio = request.settings.audio_guider(config.num_layers);
  std::optional<core::Progress> denoising;
  if (progress) {
    denoising.emplace(progress->stage("denoising", 0.0, 0.9));
    options.progress = &*denoising;
  }
  core::logger("sample").info("sampling {}x{}, {} frames at {} fps: {} video + {} audio tokens, {} steps",
                              request.width, request.height, request.frames, request.fps, video.tokens(),
                              audio.tokens(), request.settings.steps);
  const auto [video_latent, audio_latent] =
      denoise(*m.transformer, video, audio, contexts, ltx2_sigmas(request.settings.steps), options);

  if (progress) progress->update(0.9, "decoding");
  GeneratedSample sample;
  sample.video = decode_video(*m.video_decoder, video_latent, latent_frames, latent_height, latent_width);
  sample.audio = decode_audio(*m.audio_decoder, *m.vocoder, audio_latent, audio_tokens);
  if (progress) progress->update(1.0, "decoded");
  return sample;
}

}  // namespace avtrain::sample
