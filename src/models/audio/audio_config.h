#pragma once
// Configs of the LTX-2.3 audio components, read from the checkpoint's `__metadata__["config"]`
// sections `audio_vae` and `vocoder` with ltx-core's defaults and checks (vae_audio.md §1.1). A value
// avtrain does not implement is refused with a message naming the key and the value.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace avtrain::models {

// config.audio_vae: the audio VAE (vae_audio.md §8) and the mel front end that feeds it.
struct AudioVaeConfig {
  // model.params.ddconfig
  int64_t ch = 0;                // base width
  std::vector<int64_t> ch_mult;  // per level; ch * ch_mult[level]
  int64_t num_res_blocks = 0;    // encoder blocks per level; the decoder has one more
  int64_t z_channels = 0;        // latent channels (8)
  int64_t in_channels = 0;       // stereo (2)
  int64_t out_ch = 0;            // stereo (2)
  int64_t mel_bins = 0;          // 64
  bool double_z = true;          // encoder outputs means and log-variances
  double norm_eps = 1e-6;        // "pixel" norm of the audio VAE (vae_audio.md §12.4)
  // Front end (ltx-core AudioProcessor): sampling_rate, preprocessing.stft
  int64_t sample_rate = 0;  // 16000
  int64_t n_fft = 0;        // stft.filter_length (1024)
  int64_t hop_length = 0;   // stft.hop_length (160)

  // Reads `section` = config.audio_vae. Throws core::InvalidInput naming the key on a missing,
  // malformed or unsupported value.
  static AudioVaeConfig from_checkpoint(const nlohmann::json& section);

  int64_t num_levels() const { return static_cast<int64_t>(ch_mult.size()); }
  // Time and frequency are halved by every level but the last: 4 for LTX-2.3.
  int64_t downsample_factor() const { return int64_t{1} << (num_levels() - 1); }
  int64_t latent_mel_bins() const { return mel_bins / downsample_factor(); }  // 16
  int64_t latent_features() const { return z_channels * latent_mel_bins(); }  // 128
  double latents_per_second() const {                                         // 25
    return static_cast<double>(sample_rate) / static_cast<double>(hop_length) /
           static_cast<double>(downsample_factor());
  }
};

// One BigVGAN-v2 generator of the vocoder (vae_audio.md §9.1).
struct VocoderGeneratorConfig {
  int64_t in_channels = 0;  // stereo * mel bins (128)
  int64_t upsample_initial_channel = 0;
  std::vector<int64_t> upsample_rates, upsample_kernel_sizes;
  std::vector<int64_t> resblock_kernel_sizes;
  std::vector<std::vector<int64_t>> resblock_dilation_sizes;
  bool use_tanh_at_final = false;      // else clamp to [-1, 1] ...
  bool apply_final_activation = true;  // ... unless false (the BWE generator: no final op)
  bool use_bias_at_final = false;      // conv_post bias

  int64_t total_upsampling() const;
  int64_t out_channels() const { return 2; }  // stereo
};

// config.vocoder of LTX-2.3: `VocoderWithBWE` (vae_audio.md §9.2).
struct VocoderConfig {
  VocoderGeneratorConfig vocoder;  // mel (16 kHz hop) -> 16 kHz waveform
  VocoderGeneratorConfig bwe;      // causal STFT log-mel of that -> residual at 48 kHz
  int64_t num_mels = 0;            // 64
  int64_t input_sampling_rate = 0, output_sampling_rate = 0;  // 16000, 48000
  int64_t bwe_hop_length = 0, bwe_n_fft = 0;                  // 80, 512

  // Reads `section` = config.vocoder. LTX-2.0's HiFi-GAN vocoder (no `bwe` key) is refused.
  static VocoderConfig from_checkpoint(const nlohmann::json& section);

  // Output-to-input rate ratio of the BWE stage (3).
  int64_t resample_ratio() const { return output_sampling_rate / input_sampling_rate; }
  // Waveform samples per channel at output_sampling_rate for `mel_frames` input frames (480 T).
  int64_t output_samples(int64_t mel_frames) const {
    return resample_ratio() * vocoder.total_upsampling() * mel_frames;
  }
};

// The section `name` ("audio_vae", "vocoder") of the checkpoint config JSON (`__metadata__["config"]`)
// of `set`; throws core::InvalidInput naming the file when the config or the section is absent.
nlohmann::json checkpoint_config_section(const core::SafetensorsSet& set, const std::string& name);

// Audio latent frames for `frames` video frames at `fps`: round(frames / fps * latents_per_second)
// with Python's round-half-to-even (vae_audio.md §8.4, DECISIONS.md §9). 89 frames at 24 fps -> 93.
int64_t audio_latent_frames(int64_t frames, double fps, double latents_per_second = 25.0);

}  // namespace avtrain::models
