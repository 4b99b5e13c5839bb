#pragma once
// Sigma schedules for the denoising loop (specs/trainer.md §5.5, DECISIONS.md §23). Each returns a
// float32 CPU tensor [steps + 1] that starts at (or near) 1 and ends at 0.

#include <torch/types.h>

#include <cstdint>

namespace avtrain::sample {

// ltx-core's LTX2Scheduler: a token-count dependent shift of linspace(1, 0), then (optionally) a
// stretch that puts the last non-zero sigma at `terminal`.
struct Ltx2ScheduleOptions {
  // prod(latent.shape[2:]); ltx-core uses 4096 when no latent is passed, which is how validation
  // calls it (trainer.md §5.5: the shift is then always max_shift).
  int64_t tokens = 4096;
  double max_shift = 2.05;
  double base_shift = 0.95;
  bool stretch = true;
  double terminal = 0.1;
};

// Computed with the reference's float32 operations in its order, so the values equal
// golden/scheduler_sigmas bit for bit. steps >= 2 (steps = 1 is 0/0 in the stretch); throws
// core::InvalidInput otherwise.
torch::Tensor ltx2_sigmas(int64_t steps, const Ltx2ScheduleOptions& options = {});

// ltx-core's LinearQuadraticScheduler (the config's `scheduler.sampler`): linear up to
// threshold_noise over the first linear_steps (default steps / 2), quadratic after.
torch::Tensor linear_quadratic_sigmas(int64_t steps, double threshold_noise = 0.025,
                                      int64_t linear_steps = -1);

// ltx-core's BetaScheduler: timesteps at the Beta(alpha, beta) quantiles of a flux-shifted
// (shift 2.37) table of 10000 sigmas. Repeated timesteps are dropped, so the result may hold fewer
// than steps + 1 values.
torch::Tensor beta_sigmas(int64_t steps, double alpha = 0.6, double beta = 0.6);

// The fixed schedules of ltx-pipelines' distilled two-stage pipeline (trainer.md §5.8).
torch::Tensor distilled_stage1_sigmas();
torch::Tensor distilled_stage2_sigmas();

}  // namespace avtrain::sample
