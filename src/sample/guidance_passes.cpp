#include "sample/guidance_passes.h"

#include <torch/torch.h>

#include <algorithm>

namespace avtrain::sample {

std::string_view to_string(GuidancePass pass) {
  switch (pass) {
    case GuidancePass::cond:
      return "cond";
    case GuidancePass::uncond_text:
      return "uncond_text";
    case GuidancePass::perturbed:
      return "perturbed";
    case GuidancePass::isolated_modality:
      return "isolated_modality";
  }
  return "unknown";
}

GuidancePlan::GuidancePlan(const MultiModalGuider& video, const MultiModalGuider& audio) {
  passes_.push_back(GuidancePass::cond);
  if (video.needs_uncond_text() || audio.needs_uncond_text()) passes_.push_back(GuidancePass::uncond_text);
  if (video.needs_perturbed()) stg_.skip_video_self_attn_blocks = video.params().stg_blocks;
  if (audio.needs_perturbed()) stg_.skip_audio_self_attn_blocks = audio.params().stg_blocks;
  // The pass runs whenever a modality asks for STG, even with an empty block list (as ltx-pipelines).
  if (video.needs_perturbed() || audio.needs_perturbed()) passes_.push_back(GuidancePass::perturbed);
  if (video.needs_isolated_modality() || audio.needs_isolated_modality()) {
    passes_.push_back(GuidancePass::isolated_modality);
  }
}

bool GuidancePlan::runs(GuidancePass pass) const {
  return std::find(passes_.begin(), passes_.end(), pass) != passes_.end();
}

PassPerturbation GuidancePlan::perturbation(GuidancePass pass) const {
  if (pass == GuidancePass::perturbed) return stg_;
  if (pass == GuidancePass::isolated_modality) return {{}, {}, /*skip_cross_modal_attn=*/true};
  return {};
}

std::vector<PassPerturbation> GuidancePlan::sample_perturbations(int64_t batch) const {
  std::vector<PassPerturbation> result;
  for (const auto pass : passes_) result.insert(result.end(), static_cast<size_t>(batch), perturbation(pass));
  return result;
}

torch::Tensor GuidancePlan::repeat(const torch::Tensor& per_sample) const {
  if (!per_sample.defined()) return per_sample;
  std::vector<int64_t> repeats(static_cast<size_t>(per_sample.dim()), 1);
  repeats[0] = size();
  return per_sample.repeat(repeats);
}

torch::Tensor GuidancePlan::contexts(const torch::Tensor& positive, const torch::Tensor& negative) const {
  TORCH_CHECK(positive.defined(), "GuidancePlan::contexts needs the positive context");
  std::vector<torch::Tensor> parts;
  for (const auto pass : passes_) {
    parts.push_back(pass == GuidancePass::uncond_text && negative.defined() ? negative : positive);
  }
  return torch::cat(parts, 0);
}

PassOutputs GuidancePlan::split(const torch::Tensor& batched) const {
  TORCH_CHECK(batched.defined() && batched.size(0) % size() == 0, "a batched output of ",
              batched.defined() ? batched.size(0) : 0, " samples does not split into ", size(), " passes");
  const auto chunks = batched.chunk(size(), 0);
  PassOutputs outputs;
  for (size_t pass_idx = 0; pass_idx < passes_.size(); ++pass_idx) {
    switch (passes_[pass_idx]) {
      case GuidancePass::cond:
        outputs.cond = chunks[pass_idx];
        break;
      case GuidancePass::uncond_text:
        outputs.uncond_text = chunks[pass_idx];
        break;
      case GuidancePass::perturbed:
        outputs.perturbed = chunks[pass_idx];
        break;
      case GuidancePass::isolated_modality:
        outputs.isolated_modality = chunks[pass_idx];
        break;
    }
  }
  return outputs;
}

std::pair<torch::Tensor, torch::Tensor> guided_denoise(const MultiModalGuider& video,
                                                       const MultiModalGuider& audio,
                                                       const PromptContexts& contexts,
                                                       const BatchedDenoiser& denoiser) {
  const GuidancePlan plan(video, audio);
  if (plan.runs(GuidancePass::uncond_text)) {
    // A modality without CFG of its own reuses its positive context in the negative pass.
    TORCH_CHECK(!video.needs_uncond_text() || contexts.video_negative.defined(),
                "video CFG needs the negative-prompt context");
    TORCH_CHECK(!audio.needs_uncond_text() || contexts.audio_negative.defined(),
                "audio CFG needs the negative-prompt context");
  }
  const auto [video_x0, audio_x0] =
      denoiser(plan, plan.contexts(contexts.video_positive, contexts.video_negative),
               plan.contexts(contexts.audio_positive, contexts.audio_negative));
  const auto v = plan.split(video_x0);
  const auto a = plan.split(audio_x0);
  return {video.calculate(v.cond, v.uncond_text, v.perturbed, v.isolated_modality),
          audio.calculate(a.cond, a.uncond_text, a.perturbed, a.isolated_modality)};
}

}  // namespace avtrain::sample
