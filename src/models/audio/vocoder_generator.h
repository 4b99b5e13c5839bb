#pragma once
// One BigVGAN-v2 generator of the LTX-2.3 vocoder (vae_audio.md §9.1; class `Vocoder` in ltx-core with
// resblock "AMP1"): mel [B, 2, T, mels] -> waveform [B, 2, T * prod(upsample_rates)]. Used twice: the
// 16 kHz generator ("vocoder.vocoder.*") and the bandwidth-extension generator ("vocoder.bwe_generator.*").

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "models/audio/anti_aliased_activation.h"
#include "models/audio/audio_config.h"
#include "models/layers/weight_source.h"

namespace avtrain::models {

// Conv1d by name: "weight" [out, in, k], "bias" [out] (optional); stride 1.
class VocoderConv1dImpl : public torch::nn::Module {
 public:
  VocoderConv1dImpl(const WeightSource& weights, int64_t in, int64_t out, int64_t kernel, int64_t dilation,
                    int64_t padding, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  int64_t dilation, padding;
};
TORCH_MODULE(VocoderConv1d);

// ConvTranspose1d by name: "weight" [in, out, k] (PyTorch's transposed layout), "bias" [out].
class VocoderConvTranspose1dImpl : public torch::nn::Module {
 public:
  VocoderConvTranspose1dImpl(const WeightSource& weights, int64_t in, int64_t out, int64_t kernel,
                             int64_t stride, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  int64_t stride, padding;
};
TORCH_MODULE(VocoderConvTranspose1d);

// AMPBlock1(C, k, dilations): per unit m, x += convs2.m(acts2.m(convs1.m(acts1.m(x)))) with convs1.m
// dilated by d_m. [B, C, L] -> [B, C, L].
class AmpBlock1Impl : public torch::nn::Module {
 public:
  AmpBlock1Impl(const WeightSource& weights, int64_t channels, int64_t kernel,
                const std::vector<int64_t>& dilations);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::ModuleList convs1{nullptr}, convs2{nullptr}, acts1{nullptr}, acts2{nullptr};
};
TORCH_MODULE(AmpBlock1);

class VocoderGeneratorImpl : public torch::nn::Module {
 public:
  VocoderGeneratorImpl(const WeightSource& weights, const VocoderGeneratorConfig& config);
  // mel [B, 2, T, in_channels/2] -> [B, 2, T * total_upsampling()]; channel index of the flattened
  // input is stereo_channel * mels + mel_bin.
  torch::Tensor forward(const torch::Tensor& mel);

  const VocoderGeneratorConfig config;
  VocoderConv1d conv_pre{nullptr}, conv_post{nullptr};
  torch::nn::ModuleList ups{nullptr}, resblocks{nullptr};
  AntiAliasedSnakeBeta act_post{nullptr};
};
TORCH_MODULE(VocoderGenerator);

}  // namespace avtrain::models
