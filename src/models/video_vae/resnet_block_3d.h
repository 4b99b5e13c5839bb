#pragma once
// ResnetBlock3D and the `res_x` group UNetMidBlock3D of the video VAE (specs/vae_audio.md §2.3-2.4),
// in the only form LTX-2.3 uses: in == out channels, pixel norm, no noise, no timestep conditioning.
//
//   h = conv1(silu(pixel_norm(x)));  h = conv2(silu(pixel_norm(h)));  out = x + h
//
// Keys: "conv1.conv.{weight,bias}", "conv2.conv.{weight,bias}" (C, C, 3, 3, 3); the group holds
// "res_blocks.{j}". forward takes its input by value: moved in, it is released as soon as the block
// no longer needs it, so a chain of blocks holds about three activations at a time. Inference only
// (in-place normalization and residual add): the encoder and decoder run under NoGradGuard.

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "models/layers/weight_source.h"
#include "models/video_vae/causal_conv3d.h"

namespace avtrain::models {

struct ResnetBlock3DOptions {
  int64_t channels = 0;
  double eps = 0;              // pixel norm eps (VideoVaeConfig::pixel_norm_eps)
  int64_t chunk_elements = 0;  // VideoVaeConfig::chunk_elements
};

class ResnetBlock3DImpl : public torch::nn::Module {
 public:
  ResnetBlock3DImpl(const WeightSource& weights, const ResnetBlock3DOptions& options);
  // x [B, C, T, H, W] -> same shape.
  torch::Tensor forward(torch::Tensor x, bool causal);

  const ResnetBlock3DOptions options;
  CausalConv3d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(ResnetBlock3D);

// `res_x`: num_layers ResnetBlock3D in sequence.
class UnetMidBlock3DImpl : public torch::nn::Module {
 public:
  UnetMidBlock3DImpl(const WeightSource& weights, const ResnetBlock3DOptions& options, int64_t num_layers);
  torch::Tensor forward(torch::Tensor x, bool causal);

  std::vector<ResnetBlock3D> res_blocks;  // registered as the ModuleList "res_blocks"
};
TORCH_MODULE(UnetMidBlock3D);

}  // namespace avtrain::models
