#pragma once
// The video VAE's resampling blocks (specs/vae_audio.md §2.7-2.8).
//
// SpaceToDepthDownsample (encoder compress_space_res / compress_time_res / compress_all_res):
//   x' = x with frame 0 repeated in front when s_t = 2;
//   out = space_to_depth(conv(x', causal)) + mean over groups of g channels of space_to_depth(x').
// DepthToSpaceUpsample (decoder compress_space / compress_time / compress_all, residual false):
//   out = depth_to_space(conv(x)) without its first frame when s_t = 2.
// Key: "conv.conv.{weight,bias}".

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"
#include "models/video_vae/causal_conv3d.h"

namespace avtrain::models {

struct ResamplingOptions {
  int64_t in_channels = 0, out_channels = 0;
  int64_t stride_t = 1, stride_hw = 1;  // (s_t, s_h = s_w)
  int64_t chunk_elements = 0;
  int64_t stride_product() const { return stride_t * stride_hw * stride_hw; }
};

class SpaceToDepthDownsampleImpl : public torch::nn::Module {
 public:
  // out_channels = in_channels * multiplier; the conv maps in -> out / prod(stride).
  SpaceToDepthDownsampleImpl(const WeightSource& weights, const ResamplingOptions& options);
  // x [B, in, T, H, W] -> [B, out, (T + s_t - 1) / s_t, H / s_h, W / s_w] (T odd when s_t = 2)
  torch::Tensor forward(torch::Tensor x, bool causal);

  const ResamplingOptions options;
  CausalConv3d conv{nullptr};
};
TORCH_MODULE(SpaceToDepthDownsample);

class DepthToSpaceUpsampleImpl : public torch::nn::Module {
 public:
  // out_channels = in_channels / multiplier; the conv maps in -> prod(stride) * out.
  DepthToSpaceUpsampleImpl(const WeightSource& weights, const ResamplingOptions& options);
  // x [B, in, T, H, W] -> [B, out, s_t*T - (s_t - 1), s_h*H, s_w*W]
  torch::Tensor forward(torch::Tensor x, bool causal);

  const ResamplingOptions options;
  CausalConv3d conv{nullptr};
};
TORCH_MODULE(DepthToSpaceUpsample);

}  // namespace avtrain::models
