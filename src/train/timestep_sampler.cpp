#include "train/timestep_sampler.h"

#include <torch/torch.h>

#include <string>

#include "core/error.h"

namespace avtrain::train {
namespace {

// Anchors of the shift: 0.95 at 1024 tokens, 2.05 at 4096.
constexpr double kMinTokens = 1024, kMaxTokens = 4096;
constexpr double kMinShift = 0.95, kMaxShift = 2.05;
// Standard-normal percentiles the draw is stretched between (0.5th and 99.9th).
constexpr double kNormalPercentile005 = -2.5758;
constexpr double kNormalPercentile999 = 3.0902;

}  // namespace

double ShiftedLogitNormalTimestepSampler::shift_for_sequence_length(int64_t seq_length) {
  const double slope = (kMaxShift - kMinShift) / (kMaxTokens - kMinTokens);
  const double intercept = kMinShift - slope * kMinTokens;
  return slope * static_cast<double>(seq_length) + intercept;
}

std::pair<torch::Tensor, torch::Tensor> ShiftedLogitNormalTimestepSampler::percentile_bounds(
    int64_t seq_length) const {
  const double mu = shift_for_sequence_length(seq_length);
  // torch.tensor(python float) rounds to float32 before the sigmoid.
  const auto lo = torch::sigmoid(torch::tensor(mu + kNormalPercentile005 * options_.std, torch::kFloat32));
  const auto hi = torch::sigmoid(torch::tensor(mu + kNormalPercentile999 * options_.std, torch::kFloat32));
  return {lo, hi};
}

torch::Tensor ShiftedLogitNormalTimestepSampler::sigmas_from_draws(int64_t seq_length,
                                                                   const torch::Tensor& normal_draws,
                                                                   const torch::Tensor& uniform_draws,
                                                                   const torch::Tensor& mix_draws) const {
  const double mu = shift_for_sequence_length(seq_length);
  const auto logit_normal = torch::sigmoid(normal_draws.to(torch::kFloat32) * options_.std + mu);
  const auto [lo, hi] = percentile_bounds(seq_length);
  const auto stretched_raw =
      (logit_normal - lo.to(logit_normal.device())) / (hi - lo).to(logit_normal.device());
  // Reflect values below eps around eps, then keep [0, 1].
  auto stretched =
      torch::where(stretched_raw >= options_.eps, stretched_raw, 2 * options_.eps - stretched_raw);
  stretched = torch::clamp(stretched, 0, 1);
  const auto uniform = (1 - options_.eps) * uniform_draws.to(torch::kFloat32) + options_.eps;
  return torch::where(mix_draws.to(torch::kFloat32) > options_.uniform_prob, stretched, uniform);
}

torch::Tensor ShiftedLogitNormalTimestepSampler::sample(int64_t batch, int64_t seq_length,
                                                        c10::optional<at::Generator> generator,
                                                        torch::Device device) const {
  if (batch < 1 || seq_length < 1) {
    throw core::InvalidInput("timestep sampler: batch=" + std::to_string(batch) +
                             " and seq_length=" + std::to_string(seq_length) + " must both be at least 1.");
  }
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  // The reference's order: randn (logit-normal), rand (uniform fallback), rand (the mix).
  const auto normal = at::randn({batch}, generator, options);
  const auto uniform = at::rand({batch}, generator, options);
  const auto mix = at::rand({batch}, generator, options);
  return sigmas_from_draws(seq_length, normal, uniform, mix);
}

}  // namespace avtrain::train
