#include "models/text/gemma_attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace avtrain::models::text {
namespace {

// HF rotate_half: cat(-x2, x1) over the two halves of the head dimension.
torch::Tensor rotate_half(const torch::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

torch::Tensor gemma_inv_freq(const GemmaRope& rope, int64_t head_dim) {
  const auto exponents =
      torch::arange(0, head_dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(head_dim);
  const auto inv_freq = 1.0 / torch::pow(rope.theta, exponents);
  return rope.factor == 1.0 ? inv_freq : inv_freq / rope.factor;  // linear scaling (text_encoder.md §2.2)
}

std::pair<torch::Tensor, torch::Tensor> gemma_rope(const GemmaRope& rope, int64_t head_dim, int64_t seq_len,
                                                   torch::ScalarType dtype, torch::Device device) {
  const auto inv_freq = gemma_inv_freq(rope, head_dim).to(device);
  const auto positions = torch::arange(seq_len, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  const auto freqs = positions.unsqueeze(1) * inv_freq.unsqueeze(0);  // [S, head_dim/2]
  const auto angles = torch::cat({freqs, freqs}, -1);
  return {angles.cos().to(dtype), angles.sin().to(dtype)};
}

torch::Tensor gemma_attention_mask(const torch::Tensor& attention_mask, int64_t sliding_window) {
  const auto seq_len = attention_mask.size(1);
  const auto positions =
      torch::arange(seq_len, torch::TensorOptions().dtype(torch::kInt64).device(attention_mask.device()));
  const auto q = positions.view({seq_len, 1});
  const auto k = positions.view({1, seq_len});
  auto allowed = k <= q;
  if (sliding_window > 0) allowed = allowed & ((q - k) < sliding_window);
  const auto key_valid = attention_mask.to(torch::kBool).view({attention_mask.size(0), 1, 1, seq_len});
  return allowed.view({1, 1, seq_len, seq_len}) & key_valid;
}

GemmaAttentionImpl::GemmaAttentionImpl(const WeightSource& w, const GemmaConfig& config)
    : heads(config.num_attention_heads),
      kv_heads(config.num_key_value_heads),
      head_dim(config.head_dim),
      scale(1.0 / std::sqrt(config.query_pre_attn_scalar)) {
  const auto hidden = config.hidden_size;
  q_proj = register_module("q_proj", Linear(w.at("q_proj"), hidden, heads * head_dim, /*bias=*/false));
  k_proj = register_module("k_proj", Linear(w.at("k_proj"), hidden, kv_heads * head_dim, /*bias=*/false));
  v_proj = register_module("v_proj", Linear(w.at("v_proj"), hidden, kv_heads * head_dim, /*bias=*/false));
  o_proj = register_module("o_proj", Linear(w.at("o_proj"), heads * head_dim, hidden, /*bias=*/false));
  q_norm = register_module("q_norm", GemmaRmsNorm(w.at("q_norm"), head_dim, config.rms_norm_eps));
  k_norm = register_module("k_norm", GemmaRmsNorm(w.at("k_norm"), head_dim, config.rms_norm_eps));
}

torch::Tensor GemmaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin, const torch::Tensor& allowed) {
  const auto batch = x.size(0), seq_len = x.size(1);
  auto q = q_norm(q_proj(x).view({batch, seq_len, heads, head_dim}).transpose(1, 2));
  auto k = k_norm(k_proj(x).view({batch, seq_len, kv_heads, head_dim}).transpose(1, 2));
  auto v = v_proj(x).view({batch, seq_len, kv_heads, head_dim}).transpose(1, 2);
  // q' = q*cos + rotate_half(q)*sin: three ops in the activation dtype, each rounding (§2.2).
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  const auto groups = heads / kv_heads;
  k = k.repeat_interleave(groups, 1);
  v = v.repeat_interleave(groups, 1);

  // Scores and softmax in float32 (the fused kernels' accumulation); a row with no allowed key
  // gets zeros instead of NaN (safe softmax), which keeps padding rows finite.
  auto scores = torch::matmul(q.to(torch::kFloat32), k.to(torch::kFloat32).transpose(-1, -2)) * scale;
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(scores, -1);
  probs = probs.masked_fill(allowed.any(-1, /*keepdim=*/true).logical_not(), 0.0);
  const auto context = torch::matmul(probs.to(v.scalar_type()), v);  // [B,H,S,head_dim]
  return o_proj(context.transpose(1, 2).reshape({batch, seq_len, heads * head_dim}));
}

}  // namespace avtrain::models::text
