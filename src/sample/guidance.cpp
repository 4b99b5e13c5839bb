#include "sample/guidance.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace avtrain::sample {
namespace {

// Python's math.isclose(a, b) with its defaults (rel_tol 1e-9, abs_tol 0), as ltx-core decides
// whether a pass runs.
bool is_close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)); }

// cond - other in float32; an absent pass is ltx-core's python 0.0 (cond - 0.0 == cond).
torch::Tensor difference(const torch::Tensor& cond32, const torch::Tensor& other) {
  return other.defined() ? cond32 - other.to(torch::kFloat32) : cond32 - 0.0;
}

// Caps the L2 norm over the last three dims at norm_threshold (both APG guiders).
torch::Tensor cap_norm(const torch::Tensor& guidance, double norm_threshold) {
  if (norm_threshold <= 0) return guidance;
  const auto norm = guidance.norm(2, {-1, -2, -3}, /*keepdim=*/true);
  // norm_threshold / norm is python's __rtruediv__: reciprocal times the scalar.
  const auto scale_factor = torch::minimum(torch::ones_like(guidance), norm.reciprocal() * norm_threshold);
  return guidance * scale_factor;
}

// eta * (part of guidance along cond) + (the rest).
torch::Tensor project_guidance(const torch::Tensor& guidance, const torch::Tensor& cond, double eta) {
  const auto g_parallel = projection_coef(guidance, cond) * cond;
  const auto g_orth = guidance - g_parallel;
  return g_parallel * eta + g_orth;
}

}  // namespace

torch::Tensor MultiModalGuider::calculate(const torch::Tensor& cond, const torch::Tensor& uncond_text,
                                          const torch::Tensor& uncond_perturbed,
                                          const torch::Tensor& uncond_modality) const {
  const auto c = cond.to(torch::kFloat32);
  auto pred = c + (params_.cfg_scale - 1) * difference(c, uncond_text) +
              params_.stg_scale * difference(c, uncond_perturbed) +
              (params_.modality_scale - 1) * difference(c, uncond_modality);
  if (params_.rescale_scale != 0) {
    const auto factor = c.std() / pred.std();
    pred = pred * (factor * params_.rescale_scale + (1 - params_.rescale_scale));
  }
  return pred.to(cond.scalar_type());
}

bool MultiModalGuider::needs_uncond_text() const { return !is_close(params_.cfg_scale, 1.0); }
bool MultiModalGuider::needs_perturbed() const { return !is_close(params_.stg_scale, 0.0); }
bool MultiModalGuider::needs_isolated_modality() const { return !is_close(params_.modality_scale, 1.0); }

torch::Tensor cfg_delta(double scale, const torch::Tensor& cond, const torch::Tensor& uncond) {
  return (scale - 1) * (cond - uncond);
}

torch::Tensor stg_delta(double scale, const torch::Tensor& cond, const torch::Tensor& perturbed) {
  return scale * (cond - perturbed);
}

torch::Tensor projection_coef(const torch::Tensor& to_project, const torch::Tensor& project_onto) {
  const auto batch = to_project.size(0);
  const auto positive_flat = to_project.reshape({batch, -1});
  const auto negative_flat = project_onto.reshape({batch, -1});
  const auto dot_product = (positive_flat * negative_flat).sum(1, /*keepdim=*/true);
  const auto squared_norm = negative_flat.pow(2).sum(1, /*keepdim=*/true) + 1e-8;
  return dot_product / squared_norm;
}

torch::Tensor cfg_star_delta(double scale, const torch::Tensor& cond, const torch::Tensor& uncond) {
  const auto rescaled_negative = projection_coef(cond, uncond) * uncond;
  return (scale - 1) * (cond - rescaled_negative);
}

torch::Tensor apg_delta(double scale, double eta, double norm_threshold, const torch::Tensor& cond,
                        const torch::Tensor& uncond) {
  const auto guidance = cap_norm(cond - uncond, norm_threshold);
  return project_guidance(guidance, cond, eta) * (scale - 1);
}

torch::Tensor LegacyApgGuider::delta(const torch::Tensor& cond, const torch::Tensor& uncond) {
  auto guidance = cond - uncond;
  if (momentum_ != 0) {
    running_average_ =
        running_average_.defined() ? momentum_ * running_average_ + guidance : guidance.clone();
    guidance = running_average_;
  }
  guidance = cap_norm(guidance, norm_threshold_);
  return project_guidance(guidance, cond, eta_) * scale_;
}

}  // namespace avtrain::sample
