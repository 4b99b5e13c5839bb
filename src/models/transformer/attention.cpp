#include "models/transformer/attention.h"

#include <torch/torch.h>

#include "models/layers/scaled_dot_product.h"

namespace avtrain::models {
namespace {

// [B, T, H*d] -> [B, H, T, d] and back.
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) { return x.unflatten(-1, {heads, -1}).transpose(1, 2); }
torch::Tensor merge_heads(const torch::Tensor& x) { return x.transpose(1, 2).flatten(-2); }

// "net.0" is ltx-core's GELU module holding the projection; a module of its own for the key path.
class GeluProjectionImpl : public torch::nn::Module {
 public:
  explicit GeluProjectionImpl(Linear linear) : proj(register_module("proj", std::move(linear))) {}
  Linear proj;
};
TORCH_MODULE(GeluProjection);

// output = gelu_tanh(pre_activation) W^T + b for a backward only: the forward computes nothing (zeros stand
// for the output), the backward gives the pre-activation's gradient. W and b are frozen.
class GeluLinearForGradient : public torch::autograd::Function<GeluLinearForGradient> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& pre_activation,
                               const torch::Tensor& weight) {
    ctx->save_for_backward({pre_activation, weight});
    auto sizes = pre_activation.sizes().vec();
    sizes.back() = weight.size(0);
    return torch::zeros({}, pre_activation.options()).expand(sizes);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& pre_activation = saved[0];
    const auto& weight = saved[1];
    return {at::gelu_backward(grad_outputs[0].matmul(weight), pre_activation, "tanh"), torch::Tensor()};
  }
};

}  // namespace

AttentionImpl::AttentionImpl(const WeightSource& w, const AttentionOptions& o) : options(o) {
  const int64_t inner = o.heads * o.head_dim;
  q_norm = register_module("q_norm", RmsNorm(w.at("q_norm"), inner, o.norm_eps));
  k_norm = register_module("k_norm", RmsNorm(w.at("k_norm"), inner, o.norm_eps));
  to_q = register_module("to_q", Linear(w.at("to_q"), o.query_dim, inner));
  to_k = register_module("to_k", Linear(w.at("to_k"), o.context_dim, inner));
  to_v = register_module("to_v", Linear(w.at("to_v"), o.context_dim, inner));
  if (o.gated) to_gate_logits = register_module("to_gate_logits", Linear(w.at("to_gate_logits"), o.query_dim, o.heads));
  to_out_0 = Linear(w.at("to_out.0"), inner, o.query_dim);
  register_module("to_out", torch::nn::ModuleList(to_out_0));  // "to_out.0": no dots allowed in a name
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context, const torch::Tensor& mask,
                                     const Rope* q_rope, const Rope* k_rope, const ValuePassThrough& pass_through) {
  const auto& c = context.defined() ? context : x;
  const auto v = to_v(c);  // [B, S, inner]
  torch::Tensor out;
  if (pass_through.all_samples) {
    out = v;  // STG for the whole batch: self-attention only (S == T)
  } else {
    auto q = q_norm(to_q(x));  // [B, T, inner]: rotated token-major, as the tables are laid out
    auto k = k_norm(to_k(c));
    if (q_rope) {
      q = apply_rope(q, *q_rope);
      k = apply_rope(k, k_rope ? *k_rope : *q_rope);
    }
    const int64_t h = options.heads;
    out = merge_heads(scaled_dot_product(split_heads(q, h), split_heads(k, h), split_heads(v, h), mask));
    if (pass_through.keep.defined()) {  // some samples perturbed: blend per sample
      const auto keep = pass_through.keep.to(out.scalar_type()).view({-1, 1, 1});
      out = out * keep + v * (1 - keep);
    }
  }
  if (to_gate_logits) {  // 2 * sigmoid(logits of the query input): one gate per head and token
    const auto gate = 2 * torch::sigmoid(to_gate_logits(x)).unsqueeze(-1);
    out = (out.unflatten(-1, {options.heads, options.head_dim}) * gate).flatten(-2);
  }
  return to_out_0(out);
}

FeedForwardImpl::FeedForwardImpl(const WeightSource& w, int64_t dim, int64_t hidden, bool bias) {
  const auto net = w.at("net");
  proj = Linear(net.at("0").at("proj"), dim, hidden, bias);
  output = Linear(net.at("2"), hidden, dim, bias);
  register_module("net", torch::nn::ModuleList(GeluProjection(proj), torch::nn::Identity(), output));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return output(torch::gelu(proj(x), "tanh"));
}

torch::Tensor FeedForwardImpl::forward_for_gradient(const torch::Tensor& x) {
  const bool output_trained = output->lora_A.defined() || output->weight.requires_grad() ||
                              (output->bias.defined() && output->bias.requires_grad());
  if (output_trained) return forward(x);
  return GeluLinearForGradient::apply(proj(x), output->weight);
}

}  // namespace avtrain::models
