#include "models/audio/anti_aliased_activation.h"

#include <torch/torch.h>

#include <cmath>

namespace avtrain::models {
namespace {

namespace F = torch::nn::functional;

// BigVGAN's Activation1d defaults, fixed by the architecture (not in the config): x2 both ways with
// 12-tap filters.
constexpr int64_t kRatio = 2;
constexpr int64_t kTaps = 12;
constexpr double kSnakeEps = 1e-9;  // no_div_by_zero (vae_audio.md §12.4)

// UpSample1d: replicate-pad taps/ratio - 1 = 5 per side, ratio * transposed depthwise conv with stride
// ratio, crop 15 per side: L -> 2L.
torch::Tensor upsample_x2(const torch::Tensor& x, const torch::Tensor& filter) {
  const int64_t channels = x.size(1);
  const int64_t pad = kTaps / kRatio - 1;
  const int64_t crop_left = pad * kRatio + (kTaps - kRatio) / 2;
  const int64_t crop_right = pad * kRatio + (kTaps - kRatio + 1) / 2;
  auto y = F::pad(x, F::PadFuncOptions({pad, pad}).mode(torch::kReplicate));
  y = kRatio * torch::conv_transpose1d(y, filter.expand({channels, -1, -1}), {}, kRatio, 0, 0, channels);
  return y.slice(2, crop_left, y.size(2) - crop_right);
}

// LowPassFilter1d with stride ratio: replicate-pad 5 left and 6 right, depthwise conv: 2L -> L.
torch::Tensor downsample_x2(const torch::Tensor& x, const torch::Tensor& filter) {
  const int64_t channels = x.size(1);
  const int64_t pad_left = kTaps / 2 - (kTaps % 2 == 0 ? 1 : 0);
  const int64_t pad_right = kTaps / 2;
  const auto y = F::pad(x, F::PadFuncOptions({pad_left, pad_right}).mode(torch::kReplicate));
  const std::vector<int64_t> stride = {kRatio}, padding = {0}, dilation = {1};
  return torch::conv1d(y, filter.expand({channels, -1, -1}), {}, stride, padding, dilation, channels);
}

}  // namespace

torch::Tensor kaiser_sinc_filter(double cutoff, double half_width, int64_t kernel_size) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const bool even = kernel_size % 2 == 0;
  const int64_t half_size = kernel_size / 2;
  const double delta_f = 4 * half_width;
  const double attenuation = 2.285 * static_cast<double>(half_size - 1) * M_PI * delta_f + 7.95;
  double beta = 0.0;
  if (attenuation > 50.0) {
    beta = 0.1102 * (attenuation - 8.7);
  } else if (attenuation >= 21.0) {
    beta = 0.5842 * std::pow(attenuation - 21.0, 0.4) + 0.07886 * (attenuation - 21.0);
  }
  const auto window = torch::kaiser_window(kernel_size, /*periodic=*/false, beta, f32);
  const auto time =
      even ? torch::arange(-half_size, half_size, f32) + 0.5 : torch::arange(kernel_size, f32) - half_size;
  if (cutoff == 0) return torch::zeros({1, 1, kernel_size}, f32);
  auto filter = 2 * cutoff * window * torch::sinc(2 * cutoff * time);
  filter = filter / filter.sum();
  return filter.view({1, 1, kernel_size});
}

SnakeBetaImpl::SnakeBetaImpl(const WeightSource& w, int64_t channels) {
  alpha = register_parameter("alpha", w.take("alpha", {channels}, Init::normal), /*requires_grad=*/false);
  beta = register_parameter("beta", w.take("beta", {channels}, Init::normal), /*requires_grad=*/false);
}

torch::Tensor SnakeBetaImpl::forward(const torch::Tensor& x) {
  const auto a = torch::exp(alpha.unsqueeze(0).unsqueeze(-1));
  const auto b = torch::exp(beta.unsqueeze(0).unsqueeze(-1));
  // Python's `1.0 / t` is t.reciprocal() * 1.0.
  return x + (b + kSnakeEps).reciprocal() * torch::pow(torch::sin(x * a), 2);
}

AntiAliasFilterImpl::AntiAliasFilterImpl(const WeightSource& w) {
  filter = register_buffer("filter", w.take("filter", {1, 1, kTaps}));
}

AntiAliasDownsampleImpl::AntiAliasDownsampleImpl(const WeightSource& w) {
  lowpass = register_module("lowpass", AntiAliasFilter(w.at("lowpass")));
}

AntiAliasedSnakeBetaImpl::AntiAliasedSnakeBetaImpl(const WeightSource& w, int64_t channels) {
  act = register_module("act", SnakeBeta(w.at("act"), channels));
  upsample = register_module("upsample", AntiAliasFilter(w.at("upsample")));
  downsample = register_module("downsample", AntiAliasDownsample(w.at("downsample")));
}

torch::Tensor AntiAliasedSnakeBetaImpl::forward(const torch::Tensor& x) {
  return downsample_x2(act(upsample_x2(x, upsample->filter)), downsample->lowpass->filter);
}

}  // namespace avtrain::models
