#pragma once
// The one attention kernel of the transformer and the text connectors: softmax(q k^T / sqrt(d) + mask) v
// per head. LibTorch >= 2: at::scaled_dot_product_attention (fused kernels on CUDA). LibTorch 1.13: a plain
// formulation with fp32 scores (from fp32 operands) and softmax, computed in query chunks whose score
// matrix stays within a memory budget (DECISIONS.md §29); the chunks give exactly the unchunked result.

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace avtrain::models {

// Budget of one chunk's float32 score matrix in the plain path.
constexpr int64_t kAttentionScoreBudgetBytes = int64_t{256} << 20;

// q [B, H, T, d], k and v [B, H, S, d]; mask undefined or additive, broadcastable to [B, H, T, S], in q's
// dtype or float32. Returns [B, H, T, d] in q's dtype. A fully masked row (every entry the most negative
// finite value) stays finite: it averages v uniformly instead of producing NaN.
torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& mask = {},
                                 int64_t score_budget_bytes = kAttentionScoreBudgetBytes);

// The plain path on any LibTorch (also what the fused path is checked against).
torch::Tensor scaled_dot_product_plain(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       const torch::Tensor& mask, int64_t score_budget_bytes);

// Restricts at::scaled_dot_product_attention (LibTorch >= 2) to one fused kernel, process-wide: "flash",
// "efficient", "cudnn" (LibTorch >= 2.5) or "math"; "auto" restores LibTorch's own choice. LibTorch 1.13 has
// the plain path only and accepts just "auto". Throws core::InvalidInput naming the value otherwise.
void select_attention_backend(const std::string& name);

}  // namespace avtrain::models
