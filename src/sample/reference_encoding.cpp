#include "sample/reference_encoding.h"

#include <torch/torch.h>

#include <string>

#include "core/error.h"
#include "models/audio/mel_front_end.h"

namespace avtrain::sample {
namespace {

torch::TensorOptions weight_options(torch::nn::Module& module) { return module.parameters().front().options(); }

}  // namespace

torch::Tensor encode_reference_video(models::VideoVaeEncoderImpl& encoder, const torch::Tensor& video) {
  if (!video.defined() || video.dim() != 4 || video.size(0) != 3) {
    throw core::InvalidInput("encode_reference_video: expected pixels [3, F, H, W] in [-1, 1]");
  }
  const torch::NoGradGuard no_grad;
  const auto latent = encoder.encode_tiled(video.unsqueeze(0).to(weight_options(encoder)));
  return latent[0].to(torch::kCPU, torch::kFloat32);
}

torch::Tensor encode_reference_audio(models::AudioVaeEncoderImpl& encoder, const torch::Tensor& waveform,
                                     int64_t sample_rate) {
  if (!waveform.defined() || waveform.dim() != 2 || waveform.size(0) < 1 || waveform.size(0) > 2 ||
      waveform.size(1) == 0) {
    throw core::InvalidInput(
        "encode_reference_audio: expected a mono or stereo waveform [channels, N] with samples (downmix more "
        "channels first)");
  }
  if (sample_rate <= 0) {
    throw core::InvalidInput("encode_reference_audio: sample rate " + std::to_string(sample_rate) + " is not positive");
  }
  const torch::NoGradGuard no_grad;
  const models::MelFrontEnd front_end(models::MelFrontEndOptions::from_config(encoder.config));
  const auto mel = front_end(waveform.to(torch::kCPU, torch::kFloat32).unsqueeze(0), sample_rate);
  const auto latent = encoder.forward(mel.to(weight_options(encoder)));
  return latent[0].to(torch::kCPU, torch::kFloat32);
}

}  // namespace avtrain::sample
