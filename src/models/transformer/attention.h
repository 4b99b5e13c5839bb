#pragma once
// One attention module of an AV block (transformer.md §6.3): q/k RMSNorm over the whole inner dim,
// optional split RoPE, per-head output gates, and the STG value pass-through (§9.1).
// Keys: q_norm, k_norm, to_q, to_k, to_v, to_gate_logits (gated only), to_out.0.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "models/layers/linear.h"
#include "models/layers/rms_norm.h"
#include "models/layers/weight_source.h"
#include "models/transformer/rope.h"

namespace avtrain::models {

struct AttentionOptions {
  int64_t query_dim = 0, context_dim = 0, heads = 0, head_dim = 0;
  double norm_eps = 0;  // config.transformer.norm_eps
  bool gated = false;   // config.transformer.apply_gated_attention
};

// Which samples see softmax(QK^T)V replaced by V (STG, §9.1).
struct ValuePassThrough {
  torch::Tensor keep;        // [B] 1 keep, 0 pass V through; undefined: no sample perturbed
  bool all_samples = false;  // every sample perturbed: Q/K are not computed at all
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const WeightSource& weights, const AttentionOptions& options);
  // x [B, T, query_dim]; context [B, S, context_dim], undefined for self-attention; mask additive,
  // broadcastable to [B, H, T, S]; k_rope defaults to q_rope. Returns [B, T, query_dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {}, const torch::Tensor& mask = {},
                        const Rope* q_rope = nullptr, const Rope* k_rope = nullptr,
                        const ValuePassThrough& pass_through = {});

  const AttentionOptions options;
  RmsNorm q_norm{nullptr}, k_norm{nullptr};
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, to_gate_logits{nullptr} /* gated only */;
  Linear to_out_0{nullptr};  // checkpoint key "to_out.0"
};
TORCH_MODULE(Attention);

// Feed-forward (§6.2): net.0.proj (D -> 4D) -> GELU(tanh) -> net.2 (4D -> D).
class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(const WeightSource& weights, int64_t dim, int64_t hidden, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  // Stands for forward(x) in a graph whose output values are never read (a checkpoint's recompute): the
  // gradient for x is forward's, but the GELU's output and the output linear are not computed (the returned
  // values are zeros). Falls back to forward(x) when the output linear is trained.
  torch::Tensor forward_for_gradient(const torch::Tensor& x);
  Linear proj{nullptr};    // "net.0.proj"
  Linear output{nullptr};  // "net.2"
};
TORCH_MODULE(FeedForward);

}  // namespace avtrain::models
