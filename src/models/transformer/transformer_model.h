#pragma once
// The LTX-2.3 audio-video diffusion transformer (ltx-core's LTXModel, transformer.md §3-§9): inputs are
// one Modality per stream, outputs the velocity of every token. Built from a WeightSource with the
// checkpoint's key names (model.diffusion_model.<key>).
//
//   auto model = load_transformer(set, torch::TensorOptions().dtype(torch::kBFloat16).device(device));
//   const auto [video_velocity, audio_velocity] = model->forward(video, audio);

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "models/layers/linear.h"
#include "models/layers/scaled_dot_product.h"
#include "models/layers/weight_source.h"
#include "models/transformer/adaln_single.h"
#include "models/transformer/transformer_block.h"
#include "models/transformer/transformer_config.h"

namespace avtrain::models {

// One stream's inputs (ltx-core's Modality, transformer.md §3).
struct Modality {
  torch::Tensor latent;          // [B, T, C] patchified tokens (targets first, appended conditioning after)
  torch::Tensor sigma;           // [B] float32, the step's noise level of this stream
  torch::Tensor timesteps;       // [B, T], [B, T, 1], [B] or [B, 1] float32: sigma * denoise mask per token
  torch::Tensor positions;       // [B, axes, T, 2] float32 [start, end) bounds (models/transformer/positions.h)
  torch::Tensor context;         // [B, L, D] text context after the connectors
  torch::Tensor context_mask;    // undefined, [B, L] integer/bool (1 keep, 0 pad), or additive float
  torch::Tensor attention_mask;  // undefined or [B, T, T] self-attention strength in [0, 1]
  bool enabled = true;           // false: frozen, not updated, still K/V for the other stream
};

// The guidance perturbations (§9.1), in the keep-mask row order.
enum class PerturbationType : int64_t {
  skip_video_self_attention = 0,  // STG: attn1 returns V
  skip_audio_self_attention = 1,  // STG: audio_attn1 returns V
  skip_a2v_cross_attention = 2,   // drop the audio->video update
  skip_v2a_cross_attention = 3,   // drop the video->audio update
};
constexpr int64_t kPerturbationTypes = 4;

struct Perturbation {
  PerturbationType type = PerturbationType::skip_video_self_attention;
  std::vector<int64_t> blocks;  // 0-based block indices; empty: every block
};

// Per-sample perturbations of one batched call: samples[b] lists sample b's perturbations.
struct Perturbations {
  std::vector<std::vector<Perturbation>> samples;

  bool empty() const;
  // [4, layers, B] float32 on the CPU, 1 keep / 0 perturbed (ltx-core's BatchedPerturbationConfig mask).
  torch::Tensor keep_mask(int64_t layers, int64_t batch) const;
  static Perturbations from_keep_mask(const torch::Tensor& keep_mask);
};

struct TransformerOutput {
  torch::Tensor video, audio;  // [B, T, C] velocities in the compute dtype; undefined for an absent stream
};

// Named intermediates of one forward, under golden/transformer_av_tiny's `debug.` names without the prefix
// ("video.pe_cos", "block0.video_x", ...). Filled only when passed.
struct ForwardTrace {
  std::map<std::string, torch::Tensor> tensors;
  void record(const std::string& name, const torch::Tensor& tensor);
};

// denoised = latent - velocity * timesteps per token, in float32, cast back (§3: the "x0 model").
torch::Tensor velocity_to_denoised(const torch::Tensor& latent, const torch::Tensor& velocity,
                                   const torch::Tensor& timesteps);

class TransformerModelImpl : public torch::nn::Module {
 public:
  TransformerModelImpl(const WeightSource& weights, const TransformerConfig& config);

  TransformerOutput forward(const std::optional<Modality>& video, const std::optional<Modality>& audio,
                            const Perturbations& perturbations = {}, ForwardTrace* trace = nullptr);

  // Every Linear with its module path ("transformer_blocks.3.attn1.to_out.0"), in module order.
  std::vector<std::pair<std::string, Linear>> named_linears();
  // Per-block activation checkpointing for training (gradients are the same with and without).
  void set_gradient_checkpointing(bool enabled) { gradient_checkpointing_ = enabled; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }
  // With checkpointing, the first `blocks` blocks (-1: all) keep the outputs of their attentions with at least
  // `min_keys` keys through the recompute (AttentionTape): one attention forward less per kept call, for one
  // kept output each until the block's backward. 0 blocks: every attention runs again.
  void set_kept_attention(int64_t blocks, int64_t min_keys = kKeptAttentionMinKeys) {
    kept_attention_blocks_ = blocks;
    kept_attention_min_keys_ = min_keys;
  }
  // The compute dtype: the dtype of the weights.
  torch::ScalarType dtype() const;
  torch::Device device() const;

  // Replaces every weight: make(key, current) returns the new tensor for checkpoint key `key` (e.g. real
  // tensors for a model built on the meta device). Parameters stay frozen.
  void replace_weights(const std::function<torch::Tensor(const std::string& key, const torch::Tensor& current)>& make);

  const TransformerConfig config;
  Linear patchify_proj{nullptr}, audio_patchify_proj{nullptr}, proj_out{nullptr}, audio_proj_out{nullptr};
  AdaLnSingle adaln_single{nullptr}, audio_adaln_single{nullptr};
  AdaLnSingle prompt_adaln_single{nullptr}, audio_prompt_adaln_single{nullptr};  // cross_attention_adaln only
  AdaLnSingle av_ca_video_scale_shift_adaln_single{nullptr}, av_ca_audio_scale_shift_adaln_single{nullptr};
  AdaLnSingle av_ca_a2v_gate_adaln_single{nullptr}, av_ca_v2a_gate_adaln_single{nullptr};
  torch::Tensor scale_shift_table, audio_scale_shift_table;  // [2, D] output head
  torch::nn::ModuleList transformer_blocks{nullptr};
  std::vector<TransformerBlock> blocks;

 private:
  bool gradient_checkpointing_ = false;
  int64_t kept_attention_blocks_ = 0, kept_attention_min_keys_ = kKeptAttentionMinKeys;
};
TORCH_MODULE(TransformerModel);

// Builds the model from a checkpoint: config from its metadata (TransformerConfig::from_metadata), tensors
// under "model.diffusion_model." (or unprefixed, as transformer-only files store them), converted to
// `options` one at a time. Every missing key is listed in one error; unused keys are warned about.
TransformerModel load_transformer(std::shared_ptr<const core::SafetensorsSet> set, torch::TensorOptions options);

}  // namespace avtrain::models
