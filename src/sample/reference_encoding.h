#pragma once
// IC-LoRA reference media into latents for sampling (specs/trainer.md §5.2, DECISIONS.md §4, §5, §28):
// the already fitted (and d/S-scaled) reference pixels through the video VAE encoder, tiled when larger
// than one tile; the reference audio through the mel front end (which resamples to 16 kHz itself) and
// the audio VAE encoder, in the encoders' dtype (float32 recommended, as training encodes).

#include <torch/types.h>

#include <cstdint>

#include "models/audio/audio_vae_encoder.h"
#include "models/video_vae/video_vae_encoder.h"

namespace avtrain::sample {

// video [3, F, H, W] in [-1, 1], F = 8k + 1, H and W multiples of 32 -> normalized latent [C, F', H', W']
// float32 on the CPU.
torch::Tensor encode_reference_video(models::VideoVaeEncoderImpl& encoder, const torch::Tensor& video);

// waveform [channels, N] float at `sample_rate` (mono is duplicated to stereo) -> normalized latent
// [z, T, M] float32 on the CPU.
torch::Tensor encode_reference_audio(models::AudioVaeEncoderImpl& encoder, const torch::Tensor& waveform,
                                     int64_t sample_rate);

}  // namespace avtrain::sample
