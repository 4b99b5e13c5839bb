#pragma once
// Decoding the denoised latents (specs/trainer.md §5.7, DECISIONS.md §28): the target tokens only
// (appended conditioning dropped), unpatchified; video through the tiled video VAE decoder, audio
// through the audio VAE decoder (latent -> log-mel) and the vocoder with bandwidth extension.
// Tensors only: writing files is the callers' business (media).

#include <torch/types.h>

#include <cstdint>

#include "models/audio/audio_vae_decoder.h"
#include "models/audio/vocoder.h"
#include "models/video_vae/video_vae_decoder.h"
#include "models/video_vae/video_vae_tiling.h"

namespace avtrain::sample {

// tokens [1, T, C] whose first frames*height*width are the target -> video [3, 8(frames-1)+1, 32 height,
// 32 width] float32 on the CPU, clamped to [-1, 1]. The latent goes to the decoder's device; the decoder
// runs tiled (DECISIONS.md §28 defaults).
torch::Tensor decode_video(models::VideoVaeDecoderImpl& decoder, const torch::Tensor& tokens, int64_t frames,
                           int64_t height, int64_t width, const models::TilingOptions& tiling = {});

struct Waveform {
  torch::Tensor samples;    // [2, N] float32 on the CPU, in [-1, 1]
  int64_t sample_rate = 0;  // Hz
  double duration() const { return sample_rate > 0 ? static_cast<double>(samples.size(-1)) / sample_rate : 0.0; }
};

// tokens [1, T, C*M] whose first `target_tokens` are the target -> waveform. The rate is the one at
// which the vocoder's output lasts as long as its mel input (output samples per mel frame x mel frames
// per second): vocoder.output_sampling_rate (48 kHz) for LTX-2.3; a checkpoint whose vocoder upsamples
// less than its mel hop (the tiny model) gets the lower rate that keeps audio and video in sync.
Waveform decode_audio(models::AudioVaeDecoderImpl& decoder, models::VocoderImpl& vocoder, const torch::Tensor& tokens,
                      int64_t target_tokens);

// The waveform rate decode_audio reports for this decoder and vocoder.
int64_t waveform_sample_rate(const models::AudioVaeConfig& audio, const models::VocoderConfig& vocoder);

// video [3, F, H, W] in [-1, 1] -> RGB8 frames [F, H, W, 3] uint8 contiguous on the CPU:
// ((x + 1) / 2 clamped to [0, 1]) * 255 truncated, as the reference's save_video (trainer.md §5.7).
torch::Tensor to_rgb8(const torch::Tensor& video);

}  // namespace avtrain::sample
