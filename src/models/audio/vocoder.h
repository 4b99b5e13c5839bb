#pragma once
// The LTX-2.3 vocoder, ltx-core's `VocoderWithBWE` (vae_audio.md §9.2): log-mel [B, 2, T, 64] at the
// 16 kHz hop -> BigVGAN-v2 generator at 16 kHz -> causal STFT log-mel of that -> bandwidth-extension
// generator residual + x3 Hann-sinc resampled skip -> 48 kHz stereo, clamped to [-1, 1].
// Keys "vocoder.{vocoder,bwe_generator,mel_stft}.*"; runs in float32 whatever the input dtype.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>

#include "core/safetensors.h"
#include "models/audio/audio_config.h"
#include "models/audio/vocoder_generator.h"
#include "models/layers/weight_source.h"

namespace avtrain::models {

// The x3 resampler filter of the BWE skip path (torchaudio's Hann-windowed sinc: rolloff 0.99, 6 zero
// crossings, 43 taps) -> [1, 1, 43] float32. Not in the checkpoint: computed.
torch::Tensor bwe_resampler_filter(int64_t ratio);

// The forward basis ltx-core's checkpoints carry: rows k = 0..n_fft/2 of a periodic-Hann-windowed DFT,
// real parts (cos) then imaginary parts (-sin) -> [n_fft + 2, 1, n_fft] float32. For writers of random
// checkpoints; the vocoder itself always uses the stored basis.
torch::Tensor hann_dft_basis(int64_t n_fft);

// "stft_fn.forward_basis" [n_fft + 2, 1, n_fft] (real rows then imaginary rows of a windowed DFT),
// "stft_fn.inverse_basis" (stored, unused), "mel_basis" [mels, n_fft/2 + 1]; loaded, never regenerated.
class BweStftImpl : public torch::nn::Module {
 public:
  BweStftImpl(const WeightSource& weights, int64_t n_fft);
  torch::Tensor forward_basis, inverse_basis;
};
TORCH_MODULE(BweStft);

class BweMelStftImpl : public torch::nn::Module {
 public:
  BweMelStftImpl(const WeightSource& weights, int64_t n_fft, int64_t hop_length, int64_t mels);
  // waveform [B, 2, L], L a multiple of hop -> causal log-mel [B, 2, mels, L / hop].
  torch::Tensor forward(const torch::Tensor& waveform);

  BweStft stft_fn{nullptr};
  torch::Tensor mel_basis;
  int64_t n_fft, hop_length;
};
TORCH_MODULE(BweMelStft);

class VocoderImpl : public torch::nn::Module {
 public:
  // `weights` at "vocoder." of the unified checkpoint.
  VocoderImpl(const WeightSource& weights, const VocoderConfig& config);
  // mel [B, 2, T, num_mels] -> waveform [B, 2, output_samples(T)] at output_sampling_rate, in [-1, 1],
  // cast to the input's dtype (as the reference does: bf16 input gives a bf16-rounded waveform).
  torch::Tensor forward(const torch::Tensor& mel);

  // Stage by stage, in float32 (for tests and diagnostics).
  struct Stages {
    torch::Tensor waveform_16k;  // [B, 2, 160 T] main generator output, clamped
    torch::Tensor bwe_mel;       // [B, 2, mels, frames] causal log-mel of the hop-padded waveform_16k
    torch::Tensor residual;      // [B, 2, 3 L'] BWE generator output (no final op)
    torch::Tensor skip;          // [B, 2, 3 L'] x3 resampled waveform_16k (hop-padded)
    torch::Tensor waveform;      // [B, 2, 3 * 160 T] the output before the dtype cast
  };
  Stages forward_stages(const torch::Tensor& mel);

  int64_t output_samples(int64_t mel_frames) const { return config.output_samples(mel_frames); }
  int64_t sample_rate() const { return config.output_sampling_rate; }

  const VocoderConfig config;
  VocoderGenerator vocoder{nullptr}, bwe_generator{nullptr};
  BweMelStft mel_stft{nullptr};
  torch::Tensor resampler_filter;  // non-persistent, [1, 1, 43]
};
TORCH_MODULE(Vocoder);

// Builds the vocoder from the unified checkpoint `set` (config from its metadata) on `device`, weights
// upcast to float32 (the reference runs the vocoder in float32 on bf16-stored weights); strict as the
// other loaders.
Vocoder load_vocoder(std::shared_ptr<const core::SafetensorsSet> set, torch::Device device = torch::kCPU);

}  // namespace avtrain::models
