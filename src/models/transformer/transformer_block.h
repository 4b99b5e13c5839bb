#pragma once
// One audio-video block (ltx-core's BasicAVTransformerBlock, transformer.md §6.2) and the per-forward
// inputs every block shares.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "models/layers/weight_source.h"
#include "models/transformer/attention.h"
#include "models/transformer/modulation.h"
#include "models/transformer/rope.h"
#include "models/transformer/transformer_config.h"

namespace avtrain::models {

// What the model's preprocessing (§6.1) hands every block for one stream. Undefined tensors mean
// "not present" (no mask, no other stream).
struct StreamInputs {
  bool present = false;        // passed with T > 0 (then it also serves as K/V for the other stream)
  bool run = false;            // present and enabled: this stream is updated
  TokenModulation timestep_mod;  // [B, T, k*D] adaln_single(1000 t), per distinct timestep
  torch::Tensor prompt_mod;    // [B, 1, 2D] prompt_adaln_single(1000 sigma) (cross_attention_adaln)
  torch::Tensor context;       // [B, L, D]
  torch::Tensor context_mask;  // additive [B, 1, 1, L]
  Rope rope;                   // self-attention tables
  torch::Tensor self_mask;     // additive [B, 1, T, T] (attention-strength log bias)
  Rope cross_rope;             // AV cross-attention tables (time axis only)
  TokenModulation cross_mod;     // [B, T, 4D] AV scale/shift AdaLN, per distinct timestep
  torch::Tensor cross_gate;    // [B, 1, D] AV gate AdaLN (the other stream's sigma)

  // Every tensor field, for gradient checkpointing's substitution.
  std::vector<torch::Tensor*> tensors();
};

// The perturbations of one block (§9.1).
struct BlockPerturbation {
  ValuePassThrough video_self, audio_self;
  torch::Tensor keep_a2v, keep_v2a;         // [B] 1 keep, 0 drop; undefined: all kept
  bool skip_a2v = false, skip_v2a = false;  // every sample dropped: the branch is not run
};

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(const WeightSource& weights, const TransformerConfig& config);
  // xv [B, Tv, Dv], xa [B, Ta, Da] (either undefined when absent) -> updated states. Without
  // `output_values_needed` (a checkpoint's recompute, which back-propagates through the outputs but never reads
  // them) the outputs carry the right graph, but their values are not the block's.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& xv, const torch::Tensor& xa,
                                                  const StreamInputs& video, const StreamInputs& audio,
                                                  const BlockPerturbation& perturbation,
                                                  bool output_values_needed = true);

  const TransformerConfig config;
  Attention attn1{nullptr}, attn2{nullptr}, audio_attn1{nullptr}, audio_attn2{nullptr};
  Attention audio_to_video_attn{nullptr}, video_to_audio_attn{nullptr};
  FeedForward ff{nullptr}, audio_ff{nullptr};
  torch::Tensor scale_shift_table, audio_scale_shift_table;                              // [k, D]
  torch::Tensor prompt_scale_shift_table, audio_prompt_scale_shift_table;                // [2, D]
  torch::Tensor scale_shift_table_a2v_ca_video, scale_shift_table_a2v_ca_audio;          // [5, D]

  // Re-reads the table members from the parameter registry (after weights were replaced).
  void sync_tables();
};
TORCH_MODULE(TransformerBlock);

}  // namespace avtrain::models
