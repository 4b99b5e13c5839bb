#pragma once
// One AV2AV IC-LoRA training step's inputs and loss (specs/trainer.md §2.2-§2.7, DECISIONS.md §22).
//
// Per modality: sigma from the shifted logit-normal sampler (shift from that modality's target token
// count), noise, x_t = (1 - sigma) x0 + sigma noise, velocity target noise - x0. The clean reference
// tokens are prepended as the reference trainer does ([reference | target], §2.5): timestep 0, no loss,
// positions scaled by d and shifted by S (§2.2; DECISIONS.md follows the spec's recommendation of always
// applying them). Both streams run jointly, so the references reach self-attention and the other
// stream's cross-attention. The loss is the per-modality MSE over target tokens, video + audio (§2.7).

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>

#include "models/transformer/positions.h"
#include "models/transformer/transformer_model.h"
#include "train/timestep_sampler.h"
#include "train/training_data.h"

namespace avtrain::train {

struct TrainingStepOptions {
  int64_t spatial_factor = 1;   // d: the reference latent is H'/d x W'/d
  int64_t temporal_factor = 1;  // S: the reference latent keeps frames 0, S, 2S, ... ((F'-1)/S + 1)
  TimestepSamplerOptions sampler;
  models::VideoScaleFactors video_factors;
  models::AudioTiming audio_timing;
};

// The transformer inputs of one step ([reference | target] in both streams) and the velocity targets.
struct StepInputs {
  models::Modality video, audio;
  torch::Tensor video_target, audio_target;        // [1, N_target, C] velocity targets
  torch::Tensor video_loss_mask, audio_loss_mask;  // [1, N_reference + N_target] bool, true on targets
  int64_t video_reference_tokens = 0, audio_reference_tokens = 0;
  int64_t tokens() const { return video.latent.size(1) + audio.latent.size(1); }
};

// Checks the sample's shapes against the model's channels and d, S; throws core::InvalidInput naming the
// field, its shape and the expected one.
void check_sample(const TrainingSample& sample, const models::TransformerConfig& config,
                  const TrainingStepOptions& options);

// Draws, in this order, video sigma (randn, rand, rand), video noise, audio sigma, audio noise from
// `generator` (CPU) and builds the inputs on `device`. The sample stays untouched.
StepInputs build_step_inputs(const TrainingSample& sample, const TrainingStepOptions& options,
                             at::Generator& generator, torch::Device device);

struct StepLoss {
  torch::Tensor total, video, audio;  // scalars, float32; total = video + audio carries the graph
};

// One forward of both streams and the loss (§2.7); predictions are taken in float32 as Accelerate's
// convert_outputs_to_fp32 does.
StepLoss training_loss(models::TransformerModelImpl& model, const StepInputs& inputs);

}  // namespace avtrain::train
