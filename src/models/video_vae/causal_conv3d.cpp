#include "models/video_vae/causal_conv3d.h"

#include <torch/torch.h>

#include <algorithm>

namespace avtrain::models {
namespace {
constexpr int64_t kKernel = 3;

// Holds the checkpoint's ".conv" level so that named_parameters() yields "conv.weight".
class ConvParametersImpl : public torch::nn::Module {
 public:
  ConvParametersImpl(const WeightSource& w, int64_t in, int64_t out) {
    weight = register_parameter("weight", w.take("weight", {out, in, kKernel, kKernel, kKernel}), false);
    bias = register_parameter("bias", w.take("bias", {out}), false);
  }
  torch::Tensor weight, bias;
};
TORCH_MODULE(ConvParameters);
}  // namespace

CausalConv3dImpl::CausalConv3dImpl(const WeightSource& weights, const CausalConv3dOptions& o) : options(o) {
  const auto conv =
      register_module("conv", ConvParameters(weights.at("conv"), o.in_channels, o.out_channels));
  weight = conv->weight;
  bias = conv->bias;
}

torch::Tensor CausalConv3dImpl::forward(const torch::Tensor& x, bool causal) {
  const int64_t frames = x.size(2);
  // Padded frame p is source frame clamp(p - front, 0, T - 1): frame 0 repeated `front` times in
  // front, the last frame (non-causal only) once behind.
  const int64_t front = causal ? kKernel - 1 : (kKernel - 1) / 2;
  const auto padded_frames = [&](int64_t first_out, int64_t end_out) {
    const auto index = torch::arange(first_out - front, end_out + kKernel - 1 - front,
                                     torch::TensorOptions().dtype(torch::kLong).device(x.device()))
                           .clamp(0, frames - 1);
    return x.index_select(2, index);
  };
  const auto conv = [&](const torch::Tensor& input) {
    return torch::conv3d(input, weight, bias, /*stride=*/1,
                         /*padding=*/torch::IntArrayRef{0, 1, 1});
  };
  const int64_t per_frame = x.size(0) * std::max(x.size(1), options.out_channels) * x.size(3) * x.size(4);
  const int64_t step = std::max<int64_t>(1, options.chunk_elements / std::max<int64_t>(per_frame, 1));
  if (step >= frames) return conv(padded_frames(0, frames));
  auto out = torch::empty({x.size(0), options.out_channels, frames, x.size(3), x.size(4)}, x.options());
  for (int64_t first = 0; first < frames; first += step) {
    const int64_t end = std::min(frames, first + step);
    out.narrow(2, first, end - first).copy_(conv(padded_frames(first, end)));
  }
  return out;
}

}  // namespace avtrain::models
