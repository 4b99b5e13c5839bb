#include "models/layers/linear.h"

#include <torch/torch.h>

namespace avtrain::models {

LinearImpl::LinearImpl(const WeightSource& weights, int64_t in, int64_t out, bool with_bias)
    : in_features(in), out_features(out) {
  weight = register_parameter("weight", weights.take("weight", {out, in}), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", weights.take("bias", {out}), /*requires_grad=*/false);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(x, weight, bias);
  if (lora_A.defined()) {
    // The adapter runs in float32 and is added in the activation dtype (as PEFT does under autocast).
    const auto delta = torch::linear(torch::linear(x.to(lora_A.scalar_type()), lora_A), lora_B);
    y = y + (delta * lora_scale).to(y.scalar_type());
  }
  return y;
}

}  // namespace avtrain::models
