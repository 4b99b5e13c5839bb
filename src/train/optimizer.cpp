#include "train/optimizer.h"

#include <torch/torch.h>

#include <string>
#include <tuple>

#include "core/error.h"

namespace avtrain::train {

std::unique_ptr<torch::optim::AdamW> make_adamw(std::vector<torch::Tensor> parameters,
                                                const AdamWSettings& settings) {
  if (!(settings.learning_rate > 0)) {
    throw core::InvalidInput("learning_rate=" + std::to_string(settings.learning_rate) +
                             " must be greater than 0.");
  }
  auto options = torch::optim::AdamWOptions(settings.learning_rate)
                     .betas(std::make_tuple(settings.beta1, settings.beta2))
                     .eps(settings.eps)
                     .weight_decay(settings.weight_decay)
                     .amsgrad(settings.amsgrad);
  return std::make_unique<torch::optim::AdamW>(std::move(parameters), options);
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double learning_rate) {
  for (auto& group : optimizer.param_groups()) {
    group.options().set_lr(learning_rate);
  }
}

double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) grads.push_back(parameter.grad());
  }
  if (grads.empty()) return 0;
  std::vector<torch::Tensor> norms;
  for (const auto& grad : grads) norms.push_back(grad.detach().norm(2).to(torch::kFloat32));
  const auto total_norm = torch::stack(norms).norm(2);
  // Scaling by min(1, coef) leaves gradients under the limit unchanged.
  const auto clip_coef = (total_norm + 1e-6).reciprocal() * max_norm;
  if (clip_coef.item<double>() < 1) {
    for (auto& grad : grads) grad.detach().mul_(clip_coef.to(grad.scalar_type()));
  }
  return total_norm.item<double>();
}

}  // namespace avtrain::train
