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
  if (!lora_A.defined()) return y;
  // The reference trains under bf16 autocast, so the adapter's matmuls run in the activation dtype with its
  // float32 masters cast on the way in (trainer.md §3.2). Its product is added by the GEMM itself (addmm,
  // beta = 1): one pass over the output instead of a separate product, scale and add.
  const auto dtype = x.scalar_type();
  auto hidden = torch::linear(x, lora_A.to(dtype));  // [..., r]
  if (lora_scale != 1.0) hidden = hidden * lora_scale;
  const auto rows = y.numel() / out_features;
  return at::addmm(y.reshape({rows, out_features}), hidden.reshape({rows, hidden.size(-1)}), lora_B.to(dtype).t())
      .view(y.sizes());
}

}  // namespace avtrain::models
