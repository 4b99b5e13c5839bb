#include "models/audio/vocoder.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/log.h"

namespace avtrain::models {
namespace {

namespace F = torch::nn::functional;

// torchaudio's resample defaults, which the BWE resampler copies (vae_audio.md §9.2 step 5).
constexpr double kRolloff = 0.99;
constexpr int64_t kZeroCrossings = 6;
constexpr double kLogFloor = 1e-5;

int64_t resampler_width() { return static_cast<int64_t>(std::ceil(kZeroCrossings / kRolloff)); }  // 7

}  // namespace

torch::Tensor bwe_resampler_filter(int64_t ratio) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t width = resampler_width();
  const int64_t taps = 2 * width * ratio + 1;
  // Tap n sits at tau = (n / ratio - width) * rolloff; Hann window over +-6 zero crossings.
  const auto tau = (torch::arange(taps, f32) / ratio - width) * kRolloff;
  const auto clamped = tau.clamp(-kZeroCrossings, kZeroCrossings);
  const auto window = torch::cos(clamped * M_PI / kZeroCrossings / 2).pow(2);
  const auto phase = clamped * M_PI;
  const auto sinc = torch::where(phase == 0, torch::scalar_tensor(1.0, f32), phase.sin() / phase);
  return (sinc * window * (kRolloff / static_cast<double>(ratio))).view({1, 1, taps});
}

torch::Tensor hann_dft_basis(int64_t n_fft) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto n = torch::arange(n_fft, f64);
  const auto k = torch::arange(n_fft / 2 + 1, f64).unsqueeze(1);
  const auto angle = 2 * M_PI * k * n / static_cast<double>(n_fft);
  const auto window = torch::hann_window(n_fft, /*periodic=*/true, f64);
  const auto basis = torch::cat({torch::cos(angle) * window, -torch::sin(angle) * window}, 0);
  return basis.to(torch::kFloat32).unsqueeze(1);
}

BweStftImpl::BweStftImpl(const WeightSource& w, int64_t n_fft) {
  forward_basis = register_buffer("forward_basis", w.take("forward_basis", {n_fft + 2, 1, n_fft}));
  inverse_basis = register_buffer("inverse_basis", w.take("inverse_basis", {n_fft + 2, 1, n_fft}));
}

BweMelStftImpl::BweMelStftImpl(const WeightSource& w, int64_t n_fft_, int64_t hop, int64_t mels)
    : n_fft(n_fft_), hop_length(hop) {
  stft_fn = register_module("stft_fn", BweStft(w.at("stft_fn"), n_fft));
  mel_basis = register_buffer("mel_basis", w.take("mel_basis", {mels, n_fft / 2 + 1}, Init::positive));
}

torch::Tensor BweMelStftImpl::forward(const torch::Tensor& waveform) {
  const int64_t batch = waveform.size(0), channels = waveform.size(1);
  // Causal: n_fft - hop zeros on the left only, one frame per hop.
  auto signals = waveform.reshape({batch * channels, 1, waveform.size(2)});
  signals = F::pad(signals, F::PadFuncOptions({n_fft - hop_length, 0}));
  const std::vector<int64_t> stride = {hop_length};
  const auto spectrum = torch::conv1d(signals, stft_fn->forward_basis, {}, stride);  // [N, n_fft + 2, frames]
  const int64_t bins = n_fft / 2 + 1;
  const auto real = spectrum.slice(1, 0, bins), imag = spectrum.slice(1, bins);
  const auto magnitude = torch::sqrt(real * real + imag * imag);
  const auto mel = torch::matmul(mel_basis, magnitude);
  return torch::log(torch::clamp(mel, kLogFloor)).reshape({batch, channels, mel_basis.size(0), -1});
}

VocoderImpl::VocoderImpl(const WeightSource& w, const VocoderConfig& c) : config(c) {
  vocoder = register_module("vocoder", VocoderGenerator(w.at("vocoder"), c.vocoder));
  bwe_generator = register_module("bwe_generator", VocoderGenerator(w.at("bwe_generator"), c.bwe));
  mel_stft =
      register_module("mel_stft", BweMelStft(w.at("mel_stft"), c.bwe_n_fft, c.bwe_hop_length, c.num_mels));
  resampler_filter =
      bwe_resampler_filter(c.resample_ratio()).to(w.is_meta() ? torch::kMeta : w.options().device());
}

VocoderImpl::Stages VocoderImpl::forward_stages(const torch::Tensor& mel) {
  Stages stages;
  stages.waveform_16k = vocoder(mel.to(torch::kFloat32));
  const int64_t length = stages.waveform_16k.size(2);
  const int64_t ratio = config.resample_ratio();
  const int64_t hop = config.bwe_hop_length;
  auto x = stages.waveform_16k;
  if (length % hop != 0) x = F::pad(x, F::PadFuncOptions({0, hop - length % hop}));
  stages.bwe_mel = mel_stft(x);
  stages.residual = bwe_generator(stages.bwe_mel.transpose(2, 3));
  // x3 Hann-sinc resampler: replicate-pad `width`, ratio * depthwise transposed conv, crop to 3 L.
  const int64_t channels = x.size(1);
  const int64_t width = resampler_width();
  const auto padded = F::pad(x, F::PadFuncOptions({width, width}).mode(torch::kReplicate));
  auto skip = ratio * torch::conv_transpose1d(padded, resampler_filter.expand({channels, -1, -1}), {}, ratio,
                                              0, 0, channels);
  // Output m lines up with input (m - 42) / 3: the pad's 7 samples (21 outputs) plus the filter centre (21).
  const int64_t crop_left = 2 * width * ratio;
  const int64_t crop_right = skip.size(2) - crop_left - ratio * x.size(2);  // 40
  stages.skip = skip.slice(2, crop_left, skip.size(2) - crop_right);
  stages.waveform = torch::clamp(stages.residual + stages.skip, -1.0, 1.0).slice(2, 0, ratio * length);
  return stages;
}

torch::Tensor VocoderImpl::forward(const torch::Tensor& mel) {
  return forward_stages(mel).waveform.to(mel.scalar_type());
}

Vocoder load_vocoder(std::shared_ptr<const core::SafetensorsSet> set, torch::Device device) {
  const auto config = VocoderConfig::from_checkpoint(checkpoint_config_section(*set, "vocoder"));
  const auto weights = WeightSource::from_checkpoint(
      set, "vocoder.", torch::TensorOptions().dtype(torch::kFloat32).device(device));
  Vocoder vocoder(weights, config);
  weights.finish("vocoder");
  vocoder->eval();
  core::logger("models").info("vocoder: {} Hz -> {} Hz stereo, x{} generator ({} ch) + x{} BWE ({} ch)",
                              config.input_sampling_rate, config.output_sampling_rate,
                              config.vocoder.total_upsampling(), config.vocoder.upsample_initial_channel,
                              config.bwe.total_upsampling(), config.bwe.upsample_initial_channel);
  return vocoder;
}

}  // namespace avtrain::models
