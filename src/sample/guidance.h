#pragma once
// Guidance: how the x0 predictions of the guidance passes combine into one (specs/trainer.md §5.6,
// specs/transformer.md §9.2). MultiModalGuider is the formula the validation loop uses; the single
// deltas (CFG, CFG*, STG, APG) are ltx-core's other guiders, kept because they are one line each.

#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace avtrain::sample {

// ltx-core's MultiModalGuiderParams, for one modality.
struct GuiderParams {
  double cfg_scale = 1.0;           // 1 = no negative-prompt pass
  double stg_scale = 0.0;           // 0 = no perturbed pass
  std::vector<int64_t> stg_blocks;  // 0-based blocks whose self-attention STG skips
  double rescale_scale = 0.0;       // 0 = no std rescale
  double modality_scale = 1.0;      // 1 = no modality-isolated pass
};

class MultiModalGuider {
 public:
  explicit MultiModalGuider(GuiderParams params) : params_(std::move(params)) {}

  // pred = c + (cfg - 1)(c - uncond_text) + stg (c - uncond_perturbed) + (mod - 1)(c - uncond_modality);
  // if rescale r != 0: pred *= r std(c)/std(pred) + (1 - r), std unbiased over the whole tensor (all
  // batch items, tokens and channels). Computed in float32 in ltx-core's order and returned in
  // cond's dtype. An undefined tensor stands for a pass that did not run (ltx-core passes 0.0 then).
  // All tensors [B,T,C] (any shape, the same for all).
  torch::Tensor calculate(const torch::Tensor& cond, const torch::Tensor& uncond_text,
                          const torch::Tensor& uncond_perturbed, const torch::Tensor& uncond_modality) const;

  // Which extra passes this modality needs (ltx-core compares with math.isclose).
  bool needs_uncond_text() const;
  bool needs_perturbed() const;
  bool needs_isolated_modality() const;

  const GuiderParams& params() const { return params_; }

 private:
  GuiderParams params_;
};

// CFGGuider: (scale - 1)(cond - uncond).
torch::Tensor cfg_delta(double scale, const torch::Tensor& cond, const torch::Tensor& uncond);
// STGGuider: scale (cond - perturbed).
torch::Tensor stg_delta(double scale, const torch::Tensor& cond, const torch::Tensor& perturbed);
// <x, y> / (|y|^2 + 1e-8) per batch item: [B, ...] -> [B, 1].
torch::Tensor projection_coef(const torch::Tensor& to_project, const torch::Tensor& project_onto);
// CFGStarRescalingGuider: (scale - 1)(cond - projection_coef(cond, uncond) uncond). The [B,1]
// coefficient broadcasts as intended only for batch 1 or 2-D/3-D inputs whose dim 1 is 1 (as ltx-core).
torch::Tensor cfg_star_delta(double scale, const torch::Tensor& cond, const torch::Tensor& uncond);
// LtxAPGGuider: the guidance (cond - uncond), its norm over the last three dims capped at
// norm_threshold when > 0, split into parts parallel / orthogonal to cond; (eta par + orth)(scale - 1).
torch::Tensor apg_delta(double scale, double eta, double norm_threshold, const torch::Tensor& cond,
                        const torch::Tensor& uncond);

// LegacyStatefulAPGGuider: as apg_delta but with a momentum-averaged guidance kept between calls and
// the result multiplied by scale (not scale - 1). One instance per modality and per denoising run.
class LegacyApgGuider {
 public:
  LegacyApgGuider(double scale, double eta, double norm_threshold = 5.0, double momentum = 0.0)
      : scale_(scale), eta_(eta), norm_threshold_(norm_threshold), momentum_(momentum) {}
  torch::Tensor delta(const torch::Tensor& cond, const torch::Tensor& uncond);

 private:
  double scale_, eta_, norm_threshold_, momentum_;
  torch::Tensor running_average_;
};

}  // namespace avtrain::sample
