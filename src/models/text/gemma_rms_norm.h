#pragma once
// Gemma's RMSNorm (text_encoder.md §2.2): y = x * rsqrt(mean(x^2) + eps) * (1 + w), computed in
// float32 and rounded once to the input dtype. The stored w is centred on 0, hence (1 + w); this is
// not models/layers' RmsNorm (x * w, rounded before the weight).

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"

namespace avtrain::models::text {

class GemmaRmsNormImpl : public torch::nn::Module {
 public:
  // Key "<name>.weight" [dim].
  GemmaRmsNormImpl(const WeightSource& weights, int64_t dim, double eps);
  // x [..., dim]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(GemmaRmsNorm);

}  // namespace avtrain::models::text
