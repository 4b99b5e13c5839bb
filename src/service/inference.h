#pragma once
// Applying a trained IC-LoRA to a new reference clip (MISSION.md "Inference"), for `avtrain infer` and
// the server's try-it jobs (POST {prefix}/infer). The LoRA's reference-scaling metadata (DECISIONS.md
// §26) sets how the reference is fitted: downscaled by d, subsampled by S, its positions scaled to
// match, as in training (trainer.md §5.2-5.3); the LoRA is fused into the base weights (strength x B@A).
// Sampling follows validation (DECISIONS.md §23) and the generated clip with its audio is written as
// mp4 (H.264 + AAC 48 kHz, DECISIONS.md §25).
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "models/checkpoint.h"
#include "service/request/buckets.h"
#include "service/request/training_request.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::service {

// What to generate. The caller has checked its own form of these (the CLI's options, the try-it
// request's fields): frames 8k+1 from 9, fps >= 1, steps >= 2, a size of multiples of 32.
struct InferenceSettings {
  std::filesystem::path lora, reference_video;
  std::filesystem::path reference_audio;  // empty: the reference video's own track (DECISIONS.md §19)
  std::string prompt;
  std::string negative_prompt{kDefaultValidationNegativePrompt};
  int frames = 89;
  int fps = 24;
  VideoSize size{960, 960};
  int steps = 30;
  uint64_t seed = 42;
  double lora_strength = 1.0;
  double stg_scale = 1.0;
  // The reference factors; 0: the LoRA's own (another value is used with a warning: the LoRA learned its).
  int downscale = 0, temporal = 0;
  bool auto_scale = false;  // fit the whole reference clip to the frame count
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
};

// Generates the clip into `out` (.mp4). The reference media are fitted and checked before any model is
// read; a factor that does not fit the size or frame count is core::InvalidInput.
void run_inference(const InferenceSettings& settings, const models::ModelFiles& files,
                   const std::filesystem::path& out, core::Progress& progress);

}  // namespace avtrain::service
