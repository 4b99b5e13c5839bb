#pragma once
// The optimizer step pieces of training (specs/trainer.md §4, DECISIONS.md §22): AdamW with PyTorch's
// defaults except weight decay 0.01 (decoupled), the learning rate set per step from LinearLrSchedule,
// and global L2 gradient clipping at 1.0 before each step.

#include <torch/optim/adamw.h>
#include <torch/types.h>

#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace avtrain::train {

struct AdamWSettings {
  double learning_rate = 2e-4;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  bool amsgrad = false;
  double max_grad_norm = 1.0;  // clip_grad_norm before every step; 0 disables clipping
};

// AdamW over the trainable tensors (the LoRA A/B matrices), one parameter group.
std::unique_ptr<torch::optim::AdamW> make_adamw(std::vector<torch::Tensor> parameters,
                                                const AdamWSettings& settings);

// One step of `optimizer`: torch::optim::AdamW::step's math, in its order, on the optimizer's own state (so
// that it saves and restores as before), over all parameters at once with multi-tensor (_foreach) kernels:
// about ten kernel launches per step instead of ten per tensor (2,304 adapter tensors at full size). On the
// CPU the result is bit for bit AdamW::step's; CUDA's multi-tensor kernels may round the last bit otherwise.
// Parameters without a gradient are skipped, as AdamW::step skips them.
void adamw_step(torch::optim::AdamW& optimizer);

// Drops every parameter's gradient (LibTorch 2's zero_grad(set_to_none): nothing to launch).
void clear_gradients(torch::optim::Optimizer& optimizer);

// The key of a parameter in torch::optim::Optimizer::state(): its TensorImpl's address, as text on LibTorch
// 1.x. A template, so that only the branch of this LibTorch is compiled.
using OptimizerStateKey = std::remove_cvref_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
template <typename Key = OptimizerStateKey>
Key optimizer_state_key(const torch::Tensor& parameter) {
  void* address = parameter.unsafeGetTensorImpl();
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << address;
    return text.str();
  } else {
    return address;
  }
}

// Sets the learning rate of every parameter group (once per step, from LinearLrSchedule::at_step).
void set_learning_rate(torch::optim::Optimizer& optimizer, double learning_rate);

// torch.nn.utils.clip_grad_norm_: the L2 norm of all gradients together; when it exceeds max_norm,
// every gradient is scaled by max_norm / (norm + 1e-6). Tensors without a gradient are skipped.
// Returns the norm before clipping (0 when no tensor has a gradient).
double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

}  // namespace avtrain::train
