#include "models/layers/rms_norm.h"

#include <torch/torch.h>

namespace avtrain::models {

torch::Tensor rms_norm(const torch::Tensor& x, double eps) {
  const auto x32 = x.to(torch::kFloat32);
  return (x32 * torch::rsqrt(x32.square().mean(-1, /*keepdim=*/true) + eps)).to(x.scalar_type());
}

RmsNormImpl::RmsNormImpl(const WeightSource& weights, int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", weights.take("weight", {dim}), /*requires_grad=*/false);
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) { return rms_norm(x, eps) * weight; }

}  // namespace avtrain::models
