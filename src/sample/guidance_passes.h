#pragma once
// The guidance passes of one denoising step, batched into one transformer call (specs/transformer.md
// §9.2, specs/trainer.md §5.6): which passes run, what each asks of the transformer, how inputs are
// tiled into one batch and how the outputs are split back and combined. Transformer-free: the call
// itself is a callable the denoising loop supplies.

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "sample/guidance.h"

namespace avtrain::sample {

// In batch order: ltx-pipelines' _guided_denoise appends them in this order when they run.
enum class GuidancePass { cond, uncond_text, perturbed, isolated_modality };
std::string_view to_string(GuidancePass pass);

// What one pass changes inside the transformer (transformer.md §9.1); the caller turns it into the
// transformer's own perturbation description. Empty for cond and uncond_text.
struct PassPerturbation {
  // STG: in these blocks attn1 / audio_attn1 return to_out(to_v(x)) instead of attention.
  std::vector<int64_t> skip_video_self_attn_blocks;
  std::vector<int64_t> skip_audio_self_attn_blocks;
  // Modality isolation: the A2V and V2A residual updates are dropped in every block.
  bool skip_cross_modal_attn = false;

  bool empty() const {
    return skip_video_self_attn_blocks.empty() && skip_audio_self_attn_blocks.empty() &&
           !skip_cross_modal_attn;
  }
};

// One modality's outputs split per pass; a pass that did not run is undefined.
struct PassOutputs {
  torch::Tensor cond, uncond_text, perturbed, isolated_modality;
};

class GuidancePlan {
 public:
  // cond always; uncond_text when either guider needs CFG; perturbed when either needs STG (each
  // modality's self-attention skipped only if its own STG scale is non-zero, at its own blocks);
  // isolated_modality when either modality scale is not 1.
  GuidancePlan(const MultiModalGuider& video, const MultiModalGuider& audio);

  const std::vector<GuidancePass>& passes() const { return passes_; }
  int64_t size() const { return static_cast<int64_t>(passes_.size()); }
  bool runs(GuidancePass pass) const;
  PassPerturbation perturbation(GuidancePass pass) const;

  // One entry per sample of the batched call (n·B): each pass's perturbation repeated for its B samples.
  std::vector<PassPerturbation> sample_perturbations(int64_t batch) const;
  // A per-sample input (latent, positions, timesteps, masks) [B,...] tiled to [n·B,...], pass-major.
  torch::Tensor repeat(const torch::Tensor& per_sample) const;
  // The passes' text contexts [B,S,D] concatenated to [n·B,S,D]: `negative` for uncond_text, `positive`
  // for the others. `negative` may be undefined when no pass needs it (then positive stands in).
  torch::Tensor contexts(const torch::Tensor& positive, const torch::Tensor& negative) const;
  // A batched output [n·B,...] back into its passes.
  PassOutputs split(const torch::Tensor& batched) const;

 private:
  std::vector<GuidancePass> passes_;
  PassPerturbation stg_;
};

// Positive and negative text contexts of both modalities [B,S,D]; negatives may be undefined when
// neither guider uses CFG.
struct PromptContexts {
  torch::Tensor video_positive, video_negative, audio_positive, audio_negative;
};

// The transformer call on the batched passes: given the plan (for plan.repeat of the latent states and
// plan.sample_perturbations) and the batched contexts [n·B,S,D], returns the x0 predictions
// (video [n·B,Tv,Cv], audio [n·B,Ta,Ca]).
using BatchedDenoiser = std::function<std::pair<torch::Tensor, torch::Tensor>(
    const GuidancePlan& plan, const torch::Tensor& video_context, const torch::Tensor& audio_context)>;

// One guided x0 prediction per modality: all passes in one call of `denoiser`, then each modality's
// outputs combined by its guider (MultiModalGuider::calculate). Returns (video, audio) [B,...].
std::pair<torch::Tensor, torch::Tensor> guided_denoise(const MultiModalGuider& video,
                                                       const MultiModalGuider& audio,
                                                       const PromptContexts& contexts,
                                                       const BatchedDenoiser& denoiser);

}  // namespace avtrain::sample
