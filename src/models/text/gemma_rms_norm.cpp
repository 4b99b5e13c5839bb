#include "models/text/gemma_rms_norm.h"

#include <torch/torch.h>

namespace avtrain::models::text {

GemmaRmsNormImpl::GemmaRmsNormImpl(const WeightSource& weights, int64_t dim, double eps_) : eps(eps_) {
  // Init::zeros would hide the (1 + w) convention in the random tiny model: the default draw is 1 + 0.1 N.
  weight = register_parameter("weight", weights.take("weight", {dim}), /*requires_grad=*/false);
}

torch::Tensor GemmaRmsNormImpl::forward(const torch::Tensor& x) {
  const auto x32 = x.to(torch::kFloat32);
  const auto normed = x32 * torch::rsqrt(x32.square().mean(-1, /*keepdim=*/true) + eps);
  return (normed * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
}

}  // namespace avtrain::models::text
