#include "sample/decoding.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "models/transformer/patchify.h"

namespace avtrain::sample {
namespace {

torch::TensorOptions weight_options(torch::nn::Module& module, const char* what) {
  const auto parameters = module.parameters();
  if (parameters.empty()) throw core::InternalError(std::string(what) + " has no weights");
  return parameters.front().options();
}

void check_tokens(const torch::Tensor& tokens, int64_t target_tokens, const char* what) {
  if (!tokens.defined() || tokens.dim() != 3 || tokens.size(0) != 1 || tokens.size(1) < target_tokens) {
    throw core::InvalidInput(std::string(what) + ": expected tokens [1, T >= " + std::to_string(target_tokens) +
                             ", C], got " + (tokens.defined() ? std::to_string(tokens.dim()) + " dims" : "none"));
  }
}

}  // namespace

torch::Tensor decode_video(models::VideoVaeDecoderImpl& decoder, const torch::Tensor& tokens, int64_t frames,
                           int64_t height, int64_t width, const models::TilingOptions& tiling) {
  check_tokens(tokens, frames * height * width, "decode_video");
  const torch::NoGradGuard no_grad;
  const auto options = weight_options(decoder, "the video VAE decoder");
  const auto target = tokens.slice(1, 0, frames * height * width);
  const auto latent = models::unpatchify_video(target, frames, height, width).to(options);
  const auto video = decoder.decode_tiled(latent, tiling);
  return video[0].to(torch::kCPU, torch::kFloat32).clamp(-1.0, 1.0);
}

int64_t waveform_sample_rate(const models::AudioVaeConfig& audio, const models::VocoderConfig& vocoder) {
  if (audio.hop_length <= 0 || audio.sample_rate <= 0) {
    throw core::InvalidInput("audio_vae: the mel hop (" + std::to_string(audio.hop_length) + ") and sampling rate (" +
                             std::to_string(audio.sample_rate) + ") must be positive");
  }
  // Output samples per mel frame x mel frames per second; 480 x 100 = 48000 for LTX-2.3.
  const auto samples_per_second = vocoder.output_samples(1) * audio.sample_rate;
  if (samples_per_second % audio.hop_length == 0) return samples_per_second / audio.hop_length;
  return static_cast<int64_t>(std::llround(static_cast<double>(samples_per_second) / audio.hop_length));
}

Waveform decode_audio(models::AudioVaeDecoderImpl& decoder, models::VocoderImpl& vocoder, const torch::Tensor& tokens,
                      int64_t target_tokens) {
  check_tokens(tokens, target_tokens, "decode_audio");
  const torch::NoGradGuard no_grad;
  const auto& config = decoder.config;
  const auto options = weight_options(decoder, "the audio VAE decoder");
  const auto features = config.latent_features();
  if (tokens.size(2) != features) {
    throw core::InvalidInput("decode_audio: audio tokens carry " + std::to_string(tokens.size(2)) +
                             " features but the audio VAE expects " + std::to_string(features) + " (" +
                             std::to_string(config.z_channels) + " channels x " +
                             std::to_string(config.latent_mel_bins()) + " mel bins)");
  }
  const auto latent =
      models::unpatchify_audio(tokens.slice(1, 0, target_tokens), config.z_channels, config.latent_mel_bins())
          .to(options);
  const auto mel = decoder.forward(latent);
  const auto vocoder_options = weight_options(vocoder, "the vocoder");
  const auto waveform = vocoder.forward(mel.to(vocoder_options.device(), torch::kFloat32));
  return {waveform[0].to(torch::kCPU, torch::kFloat32).clamp(-1.0, 1.0), waveform_sample_rate(config, vocoder.config)};
}

torch::Tensor to_rgb8(const torch::Tensor& video) {
  if (!video.defined() || video.dim() != 4 || video.size(0) != 3) {
    throw core::InvalidInput("to_rgb8: expected video [3, F, H, W]");
  }
  const auto unit = ((video.to(torch::kCPU, torch::kFloat32) + 1.0) / 2.0).clamp(0.0, 1.0);
  return (unit * 255.0).to(torch::kUInt8).permute({1, 2, 3, 0}).contiguous();
}

}  // namespace avtrain::sample
