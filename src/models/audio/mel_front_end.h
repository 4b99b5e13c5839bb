#pragma once
// The audio VAE's front end (ltx-core AudioProcessor, vae_audio.md §8.1, DECISIONS.md §4): a float
// waveform at any sample rate -> resampled to 16 kHz with torchaudio's windowed-sinc kernel -> centred
// STFT (periodic Hann, reflect padding) -> magnitude -> Slaney mel filterbank -> ln(max(., 1e-5)).
// Differs from the checkpoint config's "causal" STFT on purpose: ltx-core (and so the trained
// model's pipelines and trainer) use centred frames (DECISIONS.md §4).

#include <torch/types.h>

#include <cstdint>

#include "models/audio/audio_config.h"

namespace avtrain::models {

struct MelFrontEndOptions {
  int64_t sample_rate = 0;  // 16000
  int64_t n_fft = 0;        // 1024 (= window length)
  int64_t hop_length = 0;   // 160
  int64_t n_mels = 0;       // 64; f_min 0, f_max sample_rate / 2 as ltx-core's AudioProcessor
  double log_floor = 1e-5;  // ln(max(mel, 1e-5))

  static MelFrontEndOptions from_config(const AudioVaeConfig& config);
};

// torchaudio.functional.resample with its defaults (sinc_interp_hann, lowpass_filter_width 6, rolloff
// 0.99), computed in the waveform's dtype: [..., N] at `from_rate` -> [..., ceil(N * to / from)].
torch::Tensor resample_sinc(const torch::Tensor& waveform, int64_t from_rate, int64_t to_rate);

// torchaudio.functional.melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate, norm="slaney",
// mel_scale="slaney") in float32: [n_freqs, n_mels].
torch::Tensor slaney_mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels,
                                    int64_t sample_rate);

class MelFrontEnd {
 public:
  explicit MelFrontEnd(const MelFrontEndOptions& options);
  // waveform [B, C, N] float at `sample_rate` Hz, C = 2 (C = 1 is duplicated to stereo, DECISIONS.md
  // §5) -> log-mel [B, 2, 1 + floor(N' / hop), n_mels] in the waveform's dtype, N' the length at
  // options.sample_rate. Computed in float32 (vae_audio.md §12.1).
  torch::Tensor operator()(const torch::Tensor& waveform, int64_t sample_rate) const;

  // Mel frames for `samples` samples at options.sample_rate.
  int64_t frames(int64_t samples) const { return 1 + samples / options_.hop_length; }
  const MelFrontEndOptions& options() const { return options_; }
  const torch::Tensor& filterbank() const { return filterbank_; }  // [n_fft/2+1, n_mels]
  const torch::Tensor& window() const { return window_; }          // [n_fft], periodic Hann

 private:
  MelFrontEndOptions options_;
  torch::Tensor filterbank_, window_;
};

}  // namespace avtrain::models
