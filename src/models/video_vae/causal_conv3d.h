#pragma once
// CausalConv3d (specs/vae_audio.md §2.1): a 3x3x3 convolution, stride 1, zero spatial padding (1, 1),
// whose temporal padding repeats frames: causal prepends 2 copies of frame 0; non-causal adds one
// copy of the first and one of the last frame. T_out = T_in.
//
// Keys: "<name>.conv.weight" [out, in, 3, 3, 3] and "<name>.conv.bias" [out] (ltx-core wraps an
// nn.Conv3d named `conv`). The padded input is built a few output frames at a time (at most
// `chunk_elements` input elements per step), so no padded copy of the whole clip is ever held.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"

namespace avtrain::models {

struct CausalConv3dOptions {
  int64_t in_channels = 0, out_channels = 0;
  int64_t chunk_elements = 0;  // VideoVaeConfig::chunk_elements
};

class CausalConv3dImpl : public torch::nn::Module {
 public:
  // `weights` is the module's source ("...conv_in"); it takes "conv.weight" and "conv.bias".
  CausalConv3dImpl(const WeightSource& weights, const CausalConv3dOptions& options);
  // x [B, in, T, H, W] -> [B, out, T, H, W]
  torch::Tensor forward(const torch::Tensor& x, bool causal);

  const CausalConv3dOptions options;
  torch::Tensor weight, bias;  // the `conv` child's parameters
};
TORCH_MODULE(CausalConv3d);

}  // namespace avtrain::models
