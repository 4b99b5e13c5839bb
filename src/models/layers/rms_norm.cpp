#include "models/layers/rms_norm.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <optional>

namespace avtrain::models {
namespace {

// ATen's rms_norm (LibTorch >= 2.4) reduces in float32 like the reference's torch call, and newer CUDA
// builds run it as one fused kernel forward and backward instead of six element-wise passes.
torch::Tensor normalize(const torch::Tensor& x, double eps, const torch::Tensor& weight) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  // A fused kernel may round once after the weight where the composite rounds before it: ~1 bf16 ulp
  // (transformer.md §12.1 allows either).
  return at::rms_norm(x, {x.size(-1)}, weight.defined() ? std::optional<torch::Tensor>(weight) : std::nullopt, eps);
#else
  const auto x32 = x.to(torch::kFloat32);
  const auto normed = (x32 * torch::rsqrt(x32.square().mean(-1, /*keepdim=*/true) + eps)).to(x.scalar_type());
  return weight.defined() ? normed * weight : normed;
#endif
}

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, double eps) { return normalize(x, eps, torch::Tensor()); }

RmsNormImpl::RmsNormImpl(const WeightSource& weights, int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", weights.take("weight", {dim}), /*requires_grad=*/false);
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) { return normalize(x, eps, weight); }

}  // namespace avtrain::models
