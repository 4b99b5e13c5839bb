#include "train/optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
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

void adamw_step(torch::optim::AdamW& optimizer) {
  const torch::NoGradGuard no_grad;
  auto& states = optimizer.state();
  for (auto& group : optimizer.param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    if (options.amsgrad()) {  // not used by avtrain; AdamW::step keeps the running maximum
      optimizer.step();
      return;
    }
    const auto [beta1, beta2] = options.betas();
    const double lr = options.lr();
    // Parameters with a gradient, by their step count after this step (one bias correction per count).
    struct Group {
      std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    };
    std::map<int64_t, Group> by_step;
    std::vector<torch::Tensor> all_params;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "AdamW does not support sparse gradients");
      auto& slot = states[optimizer_state_key(p)];
      if (!slot) {
        auto state = std::make_unique<torch::optim::AdamWParamState>();
        state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        slot = std::move(state);
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*slot);
      state.step(state.step() + 1);
      auto& g = by_step[state.step()];
      g.params.push_back(p);
      g.grads.push_back(p.grad());
      g.exp_avgs.push_back(state.exp_avg());
      g.exp_avg_sqs.push_back(state.exp_avg_sq());
      all_params.push_back(p);
    }
    if (all_params.empty()) continue;
    // Decoupled weight decay, then the moments, then the update: AdamW::step's operations.
    if (options.weight_decay() != 0) at::_foreach_mul_(all_params, 1 - lr * options.weight_decay());
    for (auto& [step, g] : by_step) {
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
      at::_foreach_mul_(g.exp_avgs, beta1);
      at::_foreach_add_(g.exp_avgs, g.grads, 1 - beta1);
      at::_foreach_mul_(g.exp_avg_sqs, beta2);
      at::_foreach_addcmul_(g.exp_avg_sqs, g.grads, g.grads, 1 - beta2);
      auto denom = at::_foreach_sqrt(g.exp_avg_sqs);
      at::_foreach_div_(denom, std::sqrt(bias_correction2));
      at::_foreach_add_(denom, options.eps());
      at::_foreach_addcdiv_(g.params, g.exp_avgs, denom, -lr / bias_correction1);
    }
  }
}

void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad().reset();
  }
}

double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) grads.push_back(parameter.grad().detach());
  }
  if (grads.empty()) return 0;
  // One multi-tensor norm over all gradients (float32: they are the adapters' float32 masters' gradients).
  const auto total_norm = torch::stack(at::_foreach_norm(grads, 2)).to(torch::kFloat32).norm(2);
  // Scaling by min(1, coef) leaves gradients under the limit unchanged.
  const double clip_coef = ((total_norm + 1e-6).reciprocal() * max_norm).item<double>();
  if (clip_coef < 1) at::_foreach_mul_(grads, clip_coef);
  return total_norm.item<double>();
}

}  // namespace avtrain::train
