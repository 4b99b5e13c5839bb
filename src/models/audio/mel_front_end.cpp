#include "models/audio/mel_front_end.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "core/error.h"

namespace avtrain::models {
namespace {

namespace F = torch::nn::functional;

constexpr int64_t kLowpassFilterWidth = 6;  // torchaudio.functional.resample defaults
constexpr double kRolloff = 0.99;

// The Slaney mel scale (torchaudio's _hz_to_mel / _mel_to_hz): linear below 1 kHz, logarithmic above.
constexpr double kSlaneyHzPerMel = 200.0 / 3;
constexpr double kSlaneyLogStartHz = 1000.0;

double hz_to_mel_slaney(double hz) {
  const double min_log_mel = kSlaneyLogStartHz / kSlaneyHzPerMel;
  const double log_step = std::log(6.4) / 27.0;
  if (hz >= kSlaneyLogStartHz) return min_log_mel + std::log(hz / kSlaneyLogStartHz) / log_step;
  return hz / kSlaneyHzPerMel;
}

// float32 tensor ops in torchaudio's order, so the filterbank matches it bit for bit.
torch::Tensor mel_to_hz_slaney(const torch::Tensor& mels) {
  const double min_log_mel = kSlaneyLogStartHz / kSlaneyHzPerMel;
  const double log_step = std::log(6.4) / 27.0;
  const auto linear = kSlaneyHzPerMel * mels;
  const auto logarithmic = kSlaneyLogStartHz * torch::exp(log_step * (mels - min_log_mel));
  return torch::where(mels >= min_log_mel, logarithmic, linear);
}

}  // namespace

MelFrontEndOptions MelFrontEndOptions::from_config(const AudioVaeConfig& config) {
  MelFrontEndOptions options;
  options.sample_rate = config.sample_rate;
  options.n_fft = config.n_fft;
  options.hop_length = config.hop_length;
  options.n_mels = config.mel_bins;
  return options;
}

torch::Tensor resample_sinc(const torch::Tensor& waveform, int64_t from_rate, int64_t to_rate) {
  if (from_rate <= 0 || to_rate <= 0) {
    throw core::InvalidInput(fmt::format(
        "audio resampling from {} Hz to {} Hz: sample rates must be positive", from_rate, to_rate));
  }
  if (from_rate == to_rate) return waveform;
  const int64_t gcd = std::gcd(from_rate, to_rate);
  const int64_t orig = from_rate / gcd, target = to_rate / gcd;
  const auto options = torch::TensorOptions().dtype(waveform.scalar_type()).device(waveform.device());
  // Kernel (torchaudio _get_sinc_resample_kernel): phase j, tap i -> t = (i/orig - j/target) * base,
  // clamped to +-width; sinc(pi t) * cos^2(pi t / 12) * base / orig.
  const double base = static_cast<double>(std::min(orig, target)) * kRolloff;
  const auto width = static_cast<int64_t>(std::ceil(kLowpassFilterWidth * static_cast<double>(orig) / base));
  const auto idx = torch::arange(-width, width + orig, options).unsqueeze(0).unsqueeze(0) / orig;
  auto t = torch::arange(0, -target, -1, options).unsqueeze(1).unsqueeze(2) / target + idx;
  t = (t * base).clamp(-kLowpassFilterWidth, kLowpassFilterWidth);
  const auto window = torch::cos(t * M_PI / kLowpassFilterWidth / 2).pow(2);
  t = t * M_PI;
  auto kernel = torch::where(t == 0, torch::scalar_tensor(1.0, options), t.sin() / t);
  kernel = kernel * (window * (base / static_cast<double>(orig)));  // [target, 1, 2 width + orig]

  const auto shape = waveform.sizes().vec();
  const int64_t length = shape.back();
  auto flat = waveform.reshape({-1, length});
  flat = F::pad(flat, F::PadFuncOptions({width, width + orig}));
  const std::vector<int64_t> stride = {orig};
  auto resampled = torch::conv1d(flat.unsqueeze(1), kernel, {}, stride);  // [W, target, frames]
  resampled = resampled.transpose(1, 2).reshape({flat.size(0), -1});
  const auto target_length = static_cast<int64_t>(
      std::ceil(static_cast<double>(target) * static_cast<double>(length) / static_cast<double>(orig)));
  resampled = resampled.slice(1, 0, target_length);
  auto out_shape = shape;
  out_shape.back() = resampled.size(1);
  return resampled.reshape(out_shape);
}

torch::Tensor slaney_mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels,
                                    int64_t sample_rate) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto all_freqs = torch::linspace(0, static_cast<double>(sample_rate / 2), n_freqs, f32);
  const auto m_pts = torch::linspace(hz_to_mel_slaney(f_min), hz_to_mel_slaney(f_max), n_mels + 2, f32);
  const auto f_pts = mel_to_hz_slaney(m_pts);
  // Triangles over f_pts[m], f_pts[m+1], f_pts[m+2] (torchaudio _create_triangular_filterbank).
  const auto f_diff = f_pts.slice(0, 1) - f_pts.slice(0, 0, -1);
  const auto slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1);  // [n_freqs, n_mels + 2]
  const auto down_slopes = (-1.0 * slopes.slice(1, 0, -2)) / f_diff.slice(0, 0, -1);
  const auto up_slopes = slopes.slice(1, 2) / f_diff.slice(0, 1);
  auto fb = torch::max(torch::zeros({1}, f32), torch::min(down_slopes, up_slopes));
  // Slaney normalisation: constant energy per band. Python's `2.0 / t` is t.reciprocal() * 2.0.
  const auto enorm = (f_pts.slice(0, 2, n_mels + 2) - f_pts.slice(0, 0, n_mels)).reciprocal() * 2.0;
  return fb * enorm.unsqueeze(0);
}

MelFrontEnd::MelFrontEnd(const MelFrontEndOptions& options) : options_(options) {
  filterbank_ =
      slaney_mel_filterbank(options.n_fft / 2 + 1, 0.0, static_cast<double>(options.sample_rate) / 2.0,
                            options.n_mels, options.sample_rate);
  window_ =
      torch::hann_window(options.n_fft, /*periodic=*/true, torch::TensorOptions().dtype(torch::kFloat32));
}

torch::Tensor MelFrontEnd::operator()(const torch::Tensor& waveform_in, int64_t sample_rate) const {
  if (waveform_in.dim() != 3 || (waveform_in.size(1) != 1 && waveform_in.size(1) != 2)) {
    throw core::InvalidInput(
        fmt::format("audio front end: waveform of shape [{}] given; it takes [batch, channels, samples] with "
                    "1 or 2 channels "
                    "(downmix other layouts first)",
                    fmt::join(waveform_in.sizes(), ", ")));
  }
  auto waveform = waveform_in.to(torch::kFloat32);
  if (waveform.size(1) == 1) waveform = waveform.expand({-1, 2, -1});  // mono -> stereo (DECISIONS.md §5)
  waveform = resample_sinc(waveform, sample_rate, options_.sample_rate);
  const int64_t pad = options_.n_fft / 2;
  if (waveform.size(2) <= pad) {
    throw core::InvalidInput(
        fmt::format("audio front end: {} samples at {} Hz are too short; the centred STFT needs "
                    "more than {} samples",
                    waveform.size(2), options_.sample_rate, pad));
  }
  const int64_t batch = waveform.size(0);
  // torch.stft(center=True, pad_mode="reflect") as torchaudio calls it.
  auto signals = waveform.reshape({-1, waveform.size(2)});
  signals = F::pad(signals.unsqueeze(1), F::PadFuncOptions({pad, pad}).mode(torch::kReflect)).squeeze(1);
  const auto spectrum = torch::stft(signals, options_.n_fft, options_.hop_length, options_.n_fft,
                                    window_.to(signals.device()), /*normalized=*/false, /*onesided=*/true,
                                    /*return_complex=*/true);
  const auto magnitude =
      spectrum.abs().reshape({batch, 2, spectrum.size(1), spectrum.size(2)});  // [B,2,freq,T]
  const auto mel =
      torch::matmul(magnitude.transpose(-1, -2), filterbank_.to(magnitude.device())).transpose(-1, -2);
  const auto log_mel = torch::log(torch::clamp(mel, options_.log_floor));
  return log_mel.permute({0, 1, 3, 2}).contiguous().to(waveform_in.scalar_type());
}

}  // namespace avtrain::models
