#pragma once
// The one attention kernel of the transformer and the text connectors: softmax(q k^T / sqrt(d) + mask) v
// per head. LibTorch >= 2: at::scaled_dot_product_attention (fused kernels on CUDA). LibTorch 1.13: a plain
// formulation with fp32 scores (from fp32 operands) and softmax, computed in query chunks whose score
// matrix stays within a memory budget (DECISIONS.md §29); the chunks give exactly the unchunked result.

#include <torch/types.h>

#include <c10/util/intrusive_ptr.h>

#include <cstdint>
#include <string>
#include <vector>

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

// ---- Attention kept through a checkpoint's recompute
// A checkpointed block runs its forward twice: once without a graph, and again in the backward to build one.
// An AttentionTape lets the second run skip the costly attentions. While the first run records, each
// scaled_dot_product call without a mask and with at least `min_keys` keys keeps its output and the kernel's
// softmax statistics (log-sum-exp per query row); while the second run replays, the same calls, in the same
// order, return the kept output and back-propagate through the kernel's own backward (the fused kernel's on
// LibTorch >= 2, the plain path's formula on 1.13). Gradients are those of the plain recompute; the cost is one
// kept output ([B, H, T, d]) per kept call, from the first run until the block's backward.

// Keys from which an attention's output is worth keeping: its forward costs 4*S*d FLOPs per output element
// (the video self-attention: S = 13,824), while a text cross-attention (S = 1,024) is cheap to run again.
constexpr int64_t kKeptAttentionMinKeys = 4096;

// Number of attention calls recorded and replayed by every tape of the process (for tests and benchmarks).
struct KeptAttentionCounts {
  int64_t recorded = 0, replayed = 0;
};
KeptAttentionCounts kept_attention_counts();

class AttentionTape {
 public:
  struct Entry;  // one recorded call (defined with the kernels)

  explicit AttentionTape(int64_t min_keys = kKeptAttentionMinKeys);
  ~AttentionTape();
  AttentionTape(const AttentionTape&) = delete;
  AttentionTape& operator=(const AttentionTape&) = delete;

  int64_t min_keys() const { return min_keys_; }
  // Bytes of the outputs and statistics kept now.
  int64_t kept_bytes() const;
  // Drops every entry (after the block's backward) and rewinds the replay.
  void clear();

  // Used by scaled_dot_product while a scope is active: entries in call order (null: the call could not be
  // kept, e.g. LibTorch chose its math kernel, and runs again as usual).
  void push(c10::intrusive_ptr<Entry> entry);
  c10::intrusive_ptr<Entry> next();

 private:
  int64_t min_keys_;
  std::vector<c10::intrusive_ptr<Entry>> entries_;
  size_t replayed_ = 0;
};

// While alive, scaled_dot_product calls on this thread record into or replay from `tape`.
class AttentionTapeScope {
 public:
  enum class Mode { record, replay };
  AttentionTapeScope(AttentionTape& tape, Mode mode);
  ~AttentionTapeScope();
  AttentionTapeScope(const AttentionTapeScope&) = delete;
  AttentionTapeScope& operator=(const AttentionTapeScope&) = delete;

 private:
  AttentionTape* previous_tape_;
  Mode previous_mode_;
};

}  // namespace avtrain::models
