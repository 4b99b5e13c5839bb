#pragma once
// Gemma 3 self-attention of one decoder layer (text_encoder.md §2.2): q/k/v projections without
// bias, per-head (1+w) RMSNorms on q and k, rotate-half RoPE with the layer type's base, grouped
// KV heads (query head h reads KV head h / (heads / kv_heads)), scale query_pre_attn_scalar^-0.5,
// a boolean mask (causal, padding, sliding window), output projection.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "models/layers/linear.h"
#include "models/layers/weight_source.h"
#include "models/text/gemma_config.h"
#include "models/text/gemma_rms_norm.h"

namespace avtrain::models::text {

// cos and sin [S, head_dim] for positions 0..S-1: angles p * inv_freq in float32 (inv_freq =
// 1 / theta^(2j/head_dim) / factor), duplicated (cat(freqs, freqs)), then rounded to `dtype`.
std::pair<torch::Tensor, torch::Tensor> gemma_rope(const GemmaRope& rope, int64_t head_dim, int64_t seq_len,
                                                   torch::ScalarType dtype, torch::Device device);
// inv_freq [head_dim / 2] in float32.
torch::Tensor gemma_inv_freq(const GemmaRope& rope, int64_t head_dim);

// allowed[b, 0, q, k] (bool [B,1,S,S]): k <= q, key k not padding, and for sliding layers q - k < window.
torch::Tensor gemma_attention_mask(const torch::Tensor& attention_mask, int64_t sliding_window);

class GemmaAttentionImpl : public torch::nn::Module {
 public:
  GemmaAttentionImpl(const WeightSource& weights, const GemmaConfig& config);
  // x [B,S,hidden]; cos/sin [S,head_dim]; allowed bool [B,1,S,S] -> [B,S,hidden]. Query rows that may
  // attend to no key (padding) get an attention output of exactly 0, as torch >= 2.5's SDPA gives.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& allowed);

  int64_t heads, kv_heads, head_dim;
  double scale;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  GemmaRmsNorm q_norm{nullptr}, k_norm{nullptr};
};
TORCH_MODULE(GemmaAttention);

}  // namespace avtrain::models::text
