#pragma once
// Sampler update formulas on x0 ("denoised") predictions (specs/trainer.md §5.6): the Euler step the
// validation loop uses, the velocity <-> x0 conversions, the conditioning blend, and ltx-core's other
// steps (Euler ancestral, CFG++ Euler, res_2s). Each follows ltx-core's float32 operation order, so
// it matches golden/diffusion_steps up to float32 rounding. `sigmas` is a schedule [N+1] (float32),
// `step_index` in [0, N); sample-like tensors are [B,T,C] (any shape, the same for all).

#include <torch/types.h>

#include <cstdint>

namespace avtrain::sample {

// v = (x - x0) / sigma in float32, returned in sample's dtype. sigma != 0 (throws core::InvalidInput).
torch::Tensor to_velocity(const torch::Tensor& sample, double sigma, const torch::Tensor& denoised);
// x0 = x - v sigma in float32, returned in sample's dtype; sigma a scalar or a per-token tensor
// broadcasting against sample (e.g. [B,T,1] timesteps = sigma * denoise_mask).
torch::Tensor to_denoised(const torch::Tensor& sample, const torch::Tensor& velocity,
                          const torch::Tensor& sigma);
torch::Tensor to_denoised(const torch::Tensor& sample, const torch::Tensor& velocity, double sigma);

// denoised * mask + clean * (1 - mask): conditioning tokens (mask 0) are forced back to their clean
// latent. mask [B,T,1]; returned in denoised's dtype.
torch::Tensor post_process_latent(const torch::Tensor& denoised, const torch::Tensor& denoise_mask,
                                  const torch::Tensor& clean);

// x + v (sigma_next - sigma), v = (x - x0) / sigma.
torch::Tensor euler_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                         const torch::Tensor& sigmas, int64_t step_index);

// Rectified-flow ancestral Euler: step to sigma_down = sigma_next (1 + (sigma_next/sigma - 1) eta), then
// renoise up to sigma_next with `noise` (required when eta > 0). Returns x0 when sigma_next = 0.
torch::Tensor euler_ancestral_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                                   const torch::Tensor& sigmas, int64_t step_index, double eta,
                                   const torch::Tensor& noise, double s_noise = 1.0);

// CFG++ Euler: the ODE direction from the unconditional x0, DDIM-ancestral noise in sigma/alpha space.
// `noise` may be undefined (no noise is added then).
torch::Tensor euler_cfgpp_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                               const torch::Tensor& uncond_denoised, const torch::Tensor& sigmas,
                               int64_t step_index, double eta, const torch::Tensor& noise,
                               double s_noise = 1.0);

// res_2s step with SDE noise (sigma_up = eta sigma_next). Returns x0 when sigma_next or sigma_up is 0.
torch::Tensor res2s_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                         const torch::Tensor& sigmas, int64_t step_index, const torch::Tensor& noise,
                         double eta = 0.5);

}  // namespace avtrain::sample
