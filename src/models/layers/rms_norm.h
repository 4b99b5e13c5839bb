#pragma once
// RMS normalization: x * rsqrt(mean(x^2) + eps), reduced in float32 and rounded back to the input
// dtype before the (optional) weight, as the reference's fp32 island (transformer.md §12.1).

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"

namespace avtrain::models {

// Without weights (norm_elementwise_affine = false), usable anywhere.
torch::Tensor rms_norm(const torch::Tensor& x, double eps);

class RmsNormImpl : public torch::nn::Module {
 public:
  // Key "<name>.weight" [dim].
  RmsNormImpl(const WeightSource& weights, int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

}  // namespace avtrain::models
