#include "models/video_vae/resampling.h"

#include <torch/torch.h>

#include "models/video_vae/space_to_depth.h"

namespace avtrain::models {

SpaceToDepthDownsampleImpl::SpaceToDepthDownsampleImpl(const WeightSource& w, const ResamplingOptions& o)
    : options(o) {
  conv = register_module(
      "conv",
      CausalConv3d(w.at("conv"), CausalConv3dOptions{o.in_channels, o.out_channels / o.stride_product(),
                                                     o.chunk_elements}));
}

torch::Tensor SpaceToDepthDownsampleImpl::forward(torch::Tensor x, bool causal) {
  const auto& o = options;
  if (o.stride_t == 2) x = torch::cat({x.narrow(2, 0, 1), x}, 2);  // T + 1 frames: even for T odd
  // Skip branch: consecutive groups of g = in * prod(stride) / out channels averaged.
  const int64_t group = o.in_channels * o.stride_product() / o.out_channels;
  auto skip = space_to_depth(x, o.stride_t, o.stride_hw, o.stride_hw);
  skip = skip.view({skip.size(0), o.out_channels, group, skip.size(2), skip.size(3), skip.size(4)}).mean(2);
  auto main = conv(x, causal);  // on the duplicated x, plus the conv's own causal padding
  x = torch::Tensor();
  main = space_to_depth(main, o.stride_t, o.stride_hw, o.stride_hw);
  return main.add_(skip);
}

DepthToSpaceUpsampleImpl::DepthToSpaceUpsampleImpl(const WeightSource& w, const ResamplingOptions& o)
    : options(o) {
  conv = register_module(
      "conv",
      CausalConv3d(w.at("conv"), CausalConv3dOptions{o.in_channels, o.stride_product() * o.out_channels,
                                                     o.chunk_elements}));
}

torch::Tensor DepthToSpaceUpsampleImpl::forward(torch::Tensor x, bool causal) {
  auto h = conv(x, causal);
  x = torch::Tensor();
  h = depth_to_space(h, options.stride_t, options.stride_hw, options.stride_hw);
  // The first output frame is dropped so that latent frame 0 maps to pixel frame 0 alone (§4.3).
  if (options.stride_t == 2) h = h.narrow(2, 1, h.size(2) - 1);
  return h;
}

}  // namespace avtrain::models
