#pragma once
// The guided Euler denoising loop of validation and inference (specs/trainer.md §5.3-5.6,
// specs/transformer.md §9.2): per step, every guidance pass of both modalities in ONE batched
// transformer call, the x0 predictions combined per modality (MultiModalGuider), conditioning tokens
// forced back to their clean latent, then an Euler step. IC-LoRA reference tokens are appended after
// the targets with denoise mask 0, so they enter every call with timestep 0 and never change.
//
//   auto video = make_video_state(reference_latent, frames, height, width, fps, d, S, factors);
//   auto audio = make_audio_state(reference_audio_latent, tokens, channels, mel_bins, timing);
//   add_initial_noise(video, audio, seed);
//   const auto [v, a] = denoise(*transformer, video, audio, contexts, ltx2_sigmas(30), options);

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <utility>

#include "models/transformer/positions.h"
#include "models/transformer/transformer_model.h"
#include "sample/guidance.h"
#include "sample/guidance_passes.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::sample {

// One stream's latent state (ltx-core's LatentState), batch B, tokens in order: targets, then the
// appended conditioning (trainer.md §5.3).
struct LatentState {
  torch::Tensor latent;          // [B, T, C] the current sample
  torch::Tensor denoise_mask;    // [B, T, 1] float32: 1 denoised, 0 held at clean_latent
  torch::Tensor clean_latent;    // [B, T, C] conditioning values (zeros on target tokens)
  torch::Tensor positions;       // [B, axes, T, 2] float32 (models/transformer/positions.h)
  torch::Tensor attention_mask;  // undefined (full attention, the validation default) or [B, T, T]
  int64_t target_tokens = 0;     // the first target_tokens tokens are the generated ones

  int64_t tokens() const { return latent.size(1); }
};

// Video target of latent frames x height x width (patchified, channels `channels`) at `fps`, with the
// reference latent [C, Fr, Hr, Wr] appended when defined: clean, mask 0, positions of its own grid
// scaled by the spatial factor d and the temporal factor S (models::reference_video_positions).
// Float32 on the CPU, B = 1, latent zeros (add_initial_noise draws the noise).
LatentState make_video_state(const torch::Tensor& reference_latent, int64_t channels, int64_t frames,
                             int64_t height, int64_t width, double fps, int64_t spatial_factor,
                             int64_t temporal_factor, const models::VideoScaleFactors& factors = {});

// Audio target of `tokens` latent frames with `channels` x `mel_bins` features, with the reference
// latent [C, Tr, M] appended when defined, on the same 0-based timeline (transformer.md §10).
LatentState make_audio_state(const torch::Tensor& reference_latent, int64_t tokens, int64_t channels,
                             int64_t mel_bins, const models::AudioTiming& timing = {});

// trainer.md §5.4: one generator seeded with `seed` draws the noise of the full video state, then of the
// full audio state (float32 on the CPU, so a seed gives the same noise on every device, DECISIONS.md §7);
// latent = lerp(clean, noise, mask), so targets become pure noise and references stay clean.
void add_initial_noise(LatentState& video, LatentState& audio, uint64_t seed);

// What one step computed, for tests and diagnostics (golden/README "transformer_av_guided_step_tiny").
struct DenoiseStepTrace {
  int64_t step = 0;
  torch::Tensor video_latent_in, audio_latent_in;  // [B, T, C] before the step
  PassOutputs video, audio;                        // each pass's x0 prediction
  torch::Tensor video_guided, audio_guided;        // MultiModalGuider results, before the clean blend
};

struct DenoiseOptions {
  GuiderParams video, audio;
  // Called after each step's combination (never by default).
  std::function<void(const DenoiseStepTrace&)> on_step;
  core::Progress* progress = nullptr;  // update_count per step; cancellation checked between steps
};

// The Euler loop on `sigmas` [N+1] (both modalities share them): states are moved to the model's
// device, latents held in the model's dtype, masks and positions in float32. Contexts are [B, L, D]
// (negatives may be undefined when neither guider uses CFG); context masks are not passed, as the
// pipelines do (the connectors already replaced the padding). Returns the final (video, audio) latents
// [B, T, C], conditioning tokens included (equal to their clean latent).
std::pair<torch::Tensor, torch::Tensor> denoise(models::TransformerModelImpl& model, const LatentState& video,
                                                const LatentState& audio, const PromptContexts& contexts,
                                                const torch::Tensor& sigmas, const DenoiseOptions& options);

// The transformer's per-sample perturbation list for the passes of one batched call.
models::Perturbations to_perturbations(const std::vector<PassPerturbation>& samples);

}  // namespace avtrain::sample
