#include "models/transformer/gradient_checkpoint.h"

#include <torch/torch.h>

#include <memory>

#include "models/layers/scaled_dot_product.h"

namespace avtrain::models {
namespace {

// What the backward needs, kept in the autograd context as a capsule.
struct CheckpointState : torch::CustomClassHolder {
  CheckpointedFunction fn;
  std::vector<torch::Tensor> inputs;      // as given (their graph links stay with the Function's edges)
  std::vector<torch::Tensor> parameters;  // leaves read by fn
  std::unique_ptr<AttentionTape> tape;    // kept attention outputs, or none
  bool done = false;                      // the backward ran (and released all of the above)
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // `all` = inputs followed by parameters: every one becomes an edge of this node.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                c10::intrusive_ptr<CheckpointState> state, torch::TensorList all) {
    (void)all;
    torch::autograd::variable_list outputs;
    {
      const torch::NoGradGuard no_grad;
      std::optional<AttentionTapeScope> record;
      if (state->tape) record.emplace(*state->tape, AttentionTapeScope::Mode::record);
      outputs = state->fn(state->inputs, CheckpointPass::forward);
    }
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    return outputs;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto capsule = ctx->saved_data["state"].toCapsule();
    auto& state = *static_cast<CheckpointState*>(capsule.get());
    TORCH_CHECK(!state.done, "a checkpointed function was back-propagated twice (retain_graph is not supported)");
    std::vector<torch::Tensor> detached;
    detached.reserve(state.inputs.size());
    for (const auto& input : state.inputs) detached.push_back(input.detach().requires_grad_(input.requires_grad()));
    torch::autograd::variable_list outputs;
    {
      const torch::AutoGradMode grad_mode(true);
      std::optional<AttentionTapeScope> replay;
      if (state.tape) replay.emplace(*state.tape, AttentionTapeScope::Mode::replay);
      outputs = state.fn(detached, CheckpointPass::recompute);
    }
    torch::autograd::variable_list roots, root_grads, wrt;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i].requires_grad() && grad_outputs[i].defined()) {
        roots.push_back(outputs[i]);
        root_grads.push_back(grad_outputs[i]);
      }
    }
    std::vector<int64_t> slot;  // index in `all` of each entry of wrt
    for (size_t i = 0; i < detached.size(); ++i) {
      if (detached[i].requires_grad()) {
        wrt.push_back(detached[i]);
        slot.push_back(static_cast<int64_t>(i));
      }
    }
    for (size_t i = 0; i < state.parameters.size(); ++i) {
      if (state.parameters[i].requires_grad()) {
        wrt.push_back(state.parameters[i]);
        slot.push_back(static_cast<int64_t>(detached.size() + i));
      }
    }
    // One undefined gradient for the state argument, then one per tensor of `all`.
    torch::autograd::variable_list grads(1 + state.inputs.size() + state.parameters.size());
    if (!roots.empty() && !wrt.empty()) {
      const auto computed = torch::autograd::grad(roots, wrt, root_grads, /*retain_graph=*/false,
                                                  /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t j = 0; j < computed.size(); ++j) grads[static_cast<size_t>(1 + slot[j])] = computed[j];
    }
    // The node lives as long as the whole graph: let go of the inputs and the tape now.
    state.done = true;
    state.fn = nullptr;
    state.inputs.clear();
    state.parameters.clear();
    state.tape.reset();
    return grads;
  }
};

}  // namespace

std::vector<torch::Tensor> checkpoint(const CheckpointedFunction& fn, const std::vector<torch::Tensor>& inputs,
                                      const std::vector<torch::Tensor>& parameters,
                                      std::optional<int64_t> kept_attention_min_keys) {
  auto state = c10::make_intrusive<CheckpointState>();
  if (kept_attention_min_keys) state->tape = std::make_unique<AttentionTape>(*kept_attention_min_keys);
  state->fn = fn;
  state->inputs = inputs;
  state->parameters = parameters;
  std::vector<torch::Tensor> all = inputs;
  all.insert(all.end(), parameters.begin(), parameters.end());
  return CheckpointFunction::apply(state, torch::TensorList(all));
}

}  // namespace avtrain::models
