#pragma once
// One generated sample from encoded references and prompt contexts (specs/trainer.md §5.3-5.7,
// DECISIONS.md §23): state construction with the appended references, seeded noise, the guided Euler
// loop on the LTX-2 schedule, then decoding. The job pipeline calls it for each validation entry and
// `avtrain infer` for its one clip; both write the files themselves (media).
//
//   auto models = load_sampling_models(checkpoint, {torch::kFloat32, device});
//   const auto sample = generate_validation_sample(models, request, &progress);
//   // sample.video [3, F, H, W] in [-1, 1]; sample.audio.samples [2, N] at sample.audio.sample_rate

#include <torch/types.h>

#include <cstdint>
#include <memory>

#include "core/safetensors.h"
#include "models/audio/audio_vae_decoder.h"
#include "models/audio/vocoder.h"
#include "models/text/prompt_cache.h"
#include "models/transformer/transformer_model.h"
#include "models/video_vae/video_vae_decoder.h"
#include "sample/decoding.h"
#include "sample/sampling_settings.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::sample {

struct SamplingModels {
  models::TransformerModel transformer{nullptr};
  models::VideoVaeDecoder video_decoder{nullptr};
  models::AudioVaeDecoder audio_decoder{nullptr};
  models::Vocoder vocoder{nullptr};  // float32 whatever `options` say (the reference runs it in float32)
};

// The four components from the unified checkpoint, in `options` (dtype, device).
SamplingModels load_sampling_models(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                    torch::TensorOptions options);

struct SampleRequest {
  torch::Tensor reference_video_latent;  // [C, Fr, Hr, Wr] normalized (undefined: no video reference)
  torch::Tensor reference_audio_latent;  // [Ca, Tr, M] normalized (undefined: no audio reference)
  models::text::PromptContext prompt;           // video [L, Dv], audio [L, Da]
  models::text::PromptContext negative_prompt;  // may be empty when neither modality uses CFG
  int64_t frames = 89;                   // 8k + 1
  int64_t width = 960, height = 960;     // multiples of 32
  double fps = 24;
  int64_t spatial_factor = 1;   // d of the reference (the LoRA's reference_downscale_factor)
  int64_t temporal_factor = 1;  // S (reference_temporal_scale_factor)
  SamplingSettings settings;
};

struct GeneratedSample {
  torch::Tensor video;  // [3, F, H, W] float32 on the CPU in [-1, 1]
  Waveform audio;       // [2, N] float32 on the CPU
};

// Throws core::InvalidInput when the frame count, the size or a reference latent does not fit the
// models. `progress` (optional): denoising steps, then decoding; cancellation between steps.
GeneratedSample generate_validation_sample(SamplingModels& models, const SampleRequest& request,
                                           core::Progress* progress = nullptr);

}  // namespace avtrain::sample
