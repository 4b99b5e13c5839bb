#include "models/audio/audio_vae_blocks.h"

#include <torch/torch.h>

#include <string>

#include "core/error.h"

namespace avtrain::models {
namespace {

namespace F = torch::nn::functional;

// [B, C, T, Fb] -> [B, T, C*Fb] with feature index c*Fb + f (AudioPatchifier, patch size 1).
torch::Tensor patchify(const torch::Tensor& x) { return x.permute({0, 2, 1, 3}).flatten(2); }

torch::Tensor unpatchify(const torch::Tensor& tokens, int64_t channels) {
  return tokens.unflatten(2, {channels, -1}).permute({0, 2, 1, 3}).contiguous();
}

}  // namespace

torch::Tensor audio_pixel_norm(const torch::Tensor& x, double eps) {
  return x / torch::sqrt(torch::mean(x * x, /*dim=*/1, /*keepdim=*/true) + eps);
}

AudioConv2dImpl::AudioConv2dImpl(const WeightSource& w, int64_t in, int64_t out, int64_t kernel,
                                 int64_t stride_)
    : stride(stride_) {
  weight = register_parameter("weight", w.take("weight", {out, in, kernel, kernel}), /*requires_grad=*/false);
  bias = register_parameter("bias", w.take("bias", {out}), /*requires_grad=*/false);
}

torch::Tensor AudioConv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight, bias, stride);
}

CausalConv2dImpl::CausalConv2dImpl(const WeightSource& w, int64_t in, int64_t out, int64_t kernel_)
    : kernel(kernel_) {
  conv = register_module("conv", AudioConv2d(w.at("conv"), in, out, kernel));
}

torch::Tensor CausalConv2dImpl::forward(const torch::Tensor& x) {
  if (kernel == 1) return conv(x);
  // F.pad order: (freq left, freq right, time before, time after).
  const int64_t side = (kernel - 1) / 2;
  return conv(F::pad(x, F::PadFuncOptions({side, side, kernel - 1, 0})));
}

AudioResnetBlockImpl::AudioResnetBlockImpl(const WeightSource& w, int64_t in, int64_t out, double eps)
    : norm_eps(eps) {
  conv1 = register_module("conv1", CausalConv2d(w.at("conv1"), in, out, 3));
  conv2 = register_module("conv2", CausalConv2d(w.at("conv2"), out, out, 3));
  if (in != out)
    nin_shortcut = register_module("nin_shortcut", CausalConv2d(w.at("nin_shortcut"), in, out, 1));
}

torch::Tensor AudioResnetBlockImpl::forward(const torch::Tensor& x) {
  auto h = conv1(torch::silu(audio_pixel_norm(x, norm_eps)));
  h = conv2(torch::silu(audio_pixel_norm(h, norm_eps)));  // dropout 0
  const auto skip = nin_shortcut ? nin_shortcut(x) : x;
  return skip + h;
}

AudioDownsampleImpl::AudioDownsampleImpl(const WeightSource& w, int64_t channels) {
  conv = register_module("conv", AudioConv2d(w.at("conv"), channels, channels, 3, /*stride=*/2));
}

torch::Tensor AudioDownsampleImpl::forward(const torch::Tensor& x) {
  return conv(F::pad(x, F::PadFuncOptions({0, 1, 2, 0})));
}

AudioUpsampleImpl::AudioUpsampleImpl(const WeightSource& w, int64_t channels) {
  conv = register_module("conv", CausalConv2d(w.at("conv"), channels, channels, 3));
}

torch::Tensor AudioUpsampleImpl::forward(const torch::Tensor& x) {
  const auto doubled = x.repeat_interleave(2, 2).repeat_interleave(2, 3);  // nearest x2
  const auto y = conv(doubled);
  return y.slice(2, 1);  // the first row is the causal padding's echo (vae_audio.md §8.3)
}

AudioLatentStatisticsImpl::AudioLatentStatisticsImpl(const WeightSource& w, int64_t features) {
  mean_of_means = register_buffer("mean-of-means", w.take("mean-of-means", {features}, Init::normal));
  std_of_means = register_buffer("std-of-means", w.take("std-of-means", {features}, Init::positive));
}

torch::Tensor AudioLatentStatisticsImpl::normalize(const torch::Tensor& latent) {
  const auto tokens = patchify(latent);
  return unpatchify((tokens - mean_of_means.to(tokens.dtype())) / std_of_means.to(tokens.dtype()),
                    latent.size(1));
}

torch::Tensor AudioLatentStatisticsImpl::un_normalize(const torch::Tensor& latent) {
  const auto tokens = patchify(latent);
  return unpatchify(tokens * std_of_means.to(tokens.dtype()) + mean_of_means.to(tokens.dtype()),
                    latent.size(1));
}

void finish_audio_vae_weights(const WeightSource& weights, const WeightSource& statistics,
                              std::string_view component) {
  std::string problems;
  for (const auto* source : {&weights, &statistics}) {
    try {
      source->finish(source == &weights ? std::string(component) : "audio VAE latent statistics");
    } catch (const core::InvalidInput& e) {
      problems += (problems.empty() ? "" : "\n") + std::string(e.what());
    }
  }
  if (!problems.empty()) throw core::InvalidInput(problems);
}

}  // namespace avtrain::models
