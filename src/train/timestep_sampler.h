#pragma once
// The training sigma sampler: ltx-trainer's ShiftedLogitNormalTimestepSampler (specs/trainer.md §2.3,
// DECISIONS.md §22). One draw per sample and modality, shifted by that modality's target token count.

#include <torch/types.h>

#include <cstdint>
#include <utility>

namespace avtrain::train {

struct TimestepSamplerOptions {
  double std = 1.0;
  double eps = 1e-3;          // values below eps are reflected to 2 eps - y
  double uniform_prob = 0.1;  // share of draws taken from U(eps, 1) instead
};

class ShiftedLogitNormalTimestepSampler {
 public:
  explicit ShiftedLogitNormalTimestepSampler(TimestepSamplerOptions options = {}) : options_(options) {}

  // mu(L) = 0.95 + (L - 1024) (2.05 - 0.95) / (4096 - 1024): linear in the target token count L, not
  // clamped outside 1024..4096 (trainer.md §7.5).
  static double shift_for_sequence_length(int64_t seq_length);

  // The deterministic part of sample(): sigmas [B] from the three draws the reference makes, in its
  // float32 operation order. normal_draws ~ N(0,1), uniform_draws and mix_draws ~ U(0,1), all [B].
  torch::Tensor sigmas_from_draws(int64_t seq_length, const torch::Tensor& normal_draws,
                                  const torch::Tensor& uniform_draws, const torch::Tensor& mix_draws) const;

  // (lo, hi) = sigmoid(mu - 2.5758 std), sigmoid(mu + 3.0902 std) in float32: the 0.5th and 99.9th
  // percentiles the logit-normal draw is stretched between.
  std::pair<torch::Tensor, torch::Tensor> percentile_bounds(int64_t seq_length) const;

  // sigmas [batch] on `generator`'s device (CPU default generator when none), drawing randn, rand, rand
  // in the reference's order. Our draws need not equal PyTorch's (DECISIONS.md §7).
  torch::Tensor sample(int64_t batch, int64_t seq_length,
                       c10::optional<at::Generator> generator = c10::nullopt,
                       torch::Device device = torch::kCPU) const;

  const TimestepSamplerOptions& options() const { return options_; }

 private:
  TimestepSamplerOptions options_;
};

}  // namespace avtrain::train
