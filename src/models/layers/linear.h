#pragma once
// A linear layer whose weights come from a WeightSource by name (never allocated and initialised as
// torch::nn::Linear would: that costs an fp32 copy of the model). Keys: "<name>.weight" [out, in],
// "<name>.bias" [out].
//
// Optional low-rank adapter (IC-LoRA, set by train/): y = x W^T + b + scale * (x A^T) B^T with
// A [r, in] and B [out, r] held in float32 and applied in the activation dtype, as under the
// reference's bf16 autocast.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"

namespace avtrain::models {

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(const WeightSource& weights, int64_t in_features, int64_t out_features, bool bias = true);
  // x [..., in] -> [..., out]
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features = 0, out_features = 0;
  torch::Tensor weight, bias;  // frozen (requires_grad false)

  // The adapter; undefined when none is attached.
  torch::Tensor lora_A, lora_B;
  double lora_scale = 1.0;
};
TORCH_MODULE(Linear);

}  // namespace avtrain::models
