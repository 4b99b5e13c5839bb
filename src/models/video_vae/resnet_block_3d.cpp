#include "models/video_vae/resnet_block_3d.h"

#include <torch/torch.h>

#include <string>

#include "models/video_vae/pixel_norm.h"

namespace avtrain::models {

ResnetBlock3DImpl::ResnetBlock3DImpl(const WeightSource& w, const ResnetBlock3DOptions& o) : options(o) {
  const CausalConv3dOptions conv{o.channels, o.channels, o.chunk_elements};
  conv1 = register_module("conv1", CausalConv3d(w.at("conv1"), conv));
  conv2 = register_module("conv2", CausalConv3d(w.at("conv2"), conv));
}

torch::Tensor ResnetBlock3DImpl::forward(torch::Tensor x, bool causal) {
  auto h = conv1(pixel_norm_silu(x, options.eps, options.chunk_elements), causal);
  pixel_norm_silu_in_place(h, options.eps, options.chunk_elements);  // dropout p = 0
  h = conv2(h, causal);
  return h.add_(x);  // x + h, written into conv2's output, which nothing else holds
}

UnetMidBlock3DImpl::UnetMidBlock3DImpl(const WeightSource& w, const ResnetBlock3DOptions& o,
                                       int64_t num_layers) {
  auto list = register_module("res_blocks", torch::nn::ModuleList());
  const auto blocks = w.at("res_blocks");
  for (int64_t index = 0; index < num_layers; ++index) {
    res_blocks.push_back(ResnetBlock3D(blocks.at(std::to_string(index)), o));
    list->push_back(res_blocks.back());
  }
}

torch::Tensor UnetMidBlock3DImpl::forward(torch::Tensor x, bool causal) {
  for (auto& block : res_blocks) x = block->forward(std::move(x), causal);
  return x;
}

}  // namespace avtrain::models
