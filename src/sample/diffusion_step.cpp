#include "sample/diffusion_step.h"

#include <torch/torch.h>

#include <limits>
#include <utility>

#include "core/error.h"

namespace avtrain::sample {
namespace {

// (sigma, sigma_next) as float32 0-d tensors; step_index must leave room for sigma_next.
std::pair<torch::Tensor, torch::Tensor> sigma_pair(const torch::Tensor& sigmas, int64_t step_index) {
  TORCH_CHECK(step_index >= 0 && step_index + 1 < sigmas.numel(), "step_index ", step_index,
              " outside a schedule of ", sigmas.numel(), " sigmas");
  return {sigmas[step_index].to(torch::kFloat32), sigmas[step_index + 1].to(torch::kFloat32)};
}

// DDIM ancestral coefficients (sigma_down, sigma_up) in the sigma/alpha parameterization (CFG++ step).
std::pair<torch::Tensor, torch::Tensor> ancestral_step(const torch::Tensor& sigma_from,
                                                       const torch::Tensor& sigma_to, double eta) {
  if (eta == 0) return {sigma_to, torch::zeros_like(sigma_to)};
  const auto variance =
      sigma_to.pow(2) * (sigma_from.pow(2) - sigma_to.pow(2)).clamp_min(0) / sigma_from.pow(2);
  const auto sigma_up = torch::minimum(variance.pow(0.5) * eta, sigma_to);
  const auto sigma_down = (sigma_to.pow(2) - sigma_up.pow(2)).clamp_min(0).pow(0.5);
  return {sigma_down, sigma_up};
}

}  // namespace

torch::Tensor to_velocity(const torch::Tensor& sample, double sigma, const torch::Tensor& denoised) {
  if (sigma == 0) {
    throw core::InvalidInput(
        "to_velocity: sigma is 0, where x0 and the sample coincide and the velocity is "
        "undefined; end the schedule with the x0 prediction instead.");
  }
  return ((sample.to(torch::kFloat32) - denoised.to(torch::kFloat32)) / sigma).to(sample.scalar_type());
}

torch::Tensor to_denoised(const torch::Tensor& sample, const torch::Tensor& velocity,
                          const torch::Tensor& sigma) {
  return (sample.to(torch::kFloat32) - velocity.to(torch::kFloat32) * sigma.to(torch::kFloat32))
      .to(sample.scalar_type());
}

torch::Tensor to_denoised(const torch::Tensor& sample, const torch::Tensor& velocity, double sigma) {
  return (sample.to(torch::kFloat32) - velocity.to(torch::kFloat32) * sigma).to(sample.scalar_type());
}

torch::Tensor post_process_latent(const torch::Tensor& denoised, const torch::Tensor& denoise_mask,
                                  const torch::Tensor& clean) {
  return (denoised * denoise_mask + clean.to(torch::kFloat32) * (1 - denoise_mask))
      .to(denoised.scalar_type());
}

torch::Tensor euler_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                         const torch::Tensor& sigmas, int64_t step_index) {
  TORCH_CHECK(step_index >= 0 && step_index + 1 < sigmas.numel(), "step_index ", step_index,
              " outside a schedule of ", sigmas.numel(), " sigmas");
  const auto sigma = sigmas[step_index];
  const auto dt = sigmas[step_index + 1] - sigma;
  const auto velocity = to_velocity(sample, sigma.to(torch::kFloat32).item<double>(), denoised);
  return (sample.to(torch::kFloat32) + velocity.to(torch::kFloat32) * dt).to(sample.scalar_type());
}

torch::Tensor euler_ancestral_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                                   const torch::Tensor& sigmas, int64_t step_index, double eta,
                                   const torch::Tensor& noise, double s_noise) {
  const auto [sigma, sigma_next] = sigma_pair(sigmas, step_index);
  if (sigma_next.item<float>() == 0) return denoised.to(sample.scalar_type());
  TORCH_CHECK(eta <= 0 || noise.defined(), "euler_ancestral_step needs a noise tensor when eta > 0");
  const auto x = sample.to(torch::kFloat32);
  const auto x0 = denoised.to(torch::kFloat32);

  const auto downstep_ratio = 1.0 + (sigma_next / sigma - 1.0) * eta;
  const auto sigma_down = sigma_next * downstep_ratio;
  // Euler step to sigma_down, as an interpolation between x and x0.
  const auto sigma_down_ratio = sigma_down / sigma;
  auto x_next = sigma_down_ratio * x + (1.0 - sigma_down_ratio) * x0;
  if (eta > 0) {
    // Renoise from sigma_down up to sigma_next, keeping the transition variance-preserving.
    const auto alpha_next = 1.0 - sigma_next;
    const auto alpha_down = 1.0 - sigma_down;
    const auto renoise_coeff =
        (sigma_next.pow(2) - sigma_down.pow(2) * alpha_next.pow(2) / alpha_down.pow(2)).clamp_min(0).pow(0.5);
    x_next = (alpha_next / alpha_down) * x_next + noise.to(torch::kFloat32) * s_noise * renoise_coeff;
  }
  return x_next.to(sample.scalar_type());
}

torch::Tensor euler_cfgpp_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                               const torch::Tensor& uncond_denoised, const torch::Tensor& sigmas,
                               int64_t step_index, double eta, const torch::Tensor& noise, double s_noise) {
  const auto [sigma_s, sigma_t] = sigma_pair(sigmas, step_index);
  // alpha clamped away from 0 for sigma == 1 exactly.
  constexpr double kEps = std::numeric_limits<float>::epsilon();
  const auto alpha_s = (1.0 - sigma_s).clamp_min(kEps);
  const auto alpha_t = (1.0 - sigma_t).clamp_min(kEps);
  const auto x = sample.to(torch::kFloat32);
  const auto x0 = denoised.to(torch::kFloat32);
  const auto uncond = uncond_denoised.to(torch::kFloat32);

  // ODE direction from the unconditional prediction (the CFG++ correction).
  const auto d = (x - alpha_s * uncond) / sigma_s;
  auto [sigma_down, sigma_up] = ancestral_step(sigma_s / alpha_s, sigma_t / alpha_t, eta);
  sigma_down = alpha_t * sigma_down;
  auto x_next = alpha_t * x0 + sigma_down * d;
  if (noise.defined() && eta > 0 && s_noise > 0) {
    x_next = x_next + alpha_t * noise.to(torch::kFloat32) * s_noise * sigma_up;
  }
  return x_next.to(sample.scalar_type());
}

torch::Tensor res2s_step(const torch::Tensor& sample, const torch::Tensor& denoised,
                         const torch::Tensor& sigmas, int64_t step_index, const torch::Tensor& noise,
                         double eta) {
  TORCH_CHECK(step_index >= 0 && step_index + 1 < sigmas.numel(), "step_index ", step_index,
              " outside a schedule of ", sigmas.numel(), " sigmas");
  const auto sigma = sigmas[step_index];
  const auto sigma_next = sigmas[step_index + 1];
  // SDE coefficients from sigma_up (ltx-core's get_sde_coeff), capped below sigma_next to keep the root real.
  auto sigma_up = torch::minimum(sigma_next * eta, sigma_next * 0.9999);
  const auto sigma_signal = torch::ones_like(sigma_next) - sigma_next;
  const auto sigma_residual = (sigma_next.pow(2) - sigma_up.pow(2)).clamp_min(0).pow(0.5);
  auto alpha_ratio = sigma_signal + sigma_residual;
  auto sigma_down = sigma_residual / alpha_ratio;
  sigma_up = torch::nan_to_num(sigma_up, 0.0);
  sigma_down = torch::where(torch::isnan(sigma_down), sigma_next.to(sigma_down.scalar_type()), sigma_down);
  alpha_ratio = torch::nan_to_num(alpha_ratio, 1.0);
  if ((sigma_up == 0).any().item<bool>() || (sigma_next == 0).any().item<bool>()) return denoised;

  const auto eps_next = (sample - denoised) / (sigma - sigma_next);
  const auto denoised_next = sample - sigma * eps_next;
  const auto x_noised = alpha_ratio * (denoised_next + sigma_down * eps_next) + sigma_up * noise;
  return x_noised.to(denoised.scalar_type());
}

}  // namespace avtrain::sample
