#pragma once
// The Gemma 3 text tower as the LTX text path runs it (text_encoder.md §2): scaled embedding, decoder
// layers with sandwich (1+w) RMSNorms, local (sliding window) and global layers with their RoPE
// bases, final norm. It returns every hidden state (Hugging Face output_hidden_states semantics);
// the vision tower and the LM head are never loaded.
//
//   auto gemma = load_gemma_text_encoder(gemma_dir, torch::dtype(torch::kBFloat16).device(torch::kCUDA));
//   const auto hidden_states = gemma->forward(batch.input_ids, batch.attention_mask);  // 49 x [B,S,3840]

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <string>
#include <vector>

#include "models/layers/linear.h"
#include "models/layers/weight_source.h"
#include "models/text/gemma_attention.h"
#include "models/text/gemma_config.h"
#include "models/text/gemma_rms_norm.h"

namespace avtrain::models::text {

// Key "embed_tokens.weight" [vocab, hidden]; output E[ids] * bf16/fp32(sqrt(hidden)), the scale
// rounded to the weight dtype first (62.0 in bf16 for the 12B).
class GemmaEmbeddingImpl : public torch::nn::Module {
 public:
  GemmaEmbeddingImpl(const WeightSource& weights, int64_t vocab_size, int64_t hidden_size);
  torch::Tensor forward(const torch::Tensor& input_ids);

  torch::Tensor weight;
  double embed_scale;
};
TORCH_MODULE(GemmaEmbedding);

// down_proj(gelu_tanh(gate_proj(x)) * up_proj(x)), no biases.
class GemmaMlpImpl : public torch::nn::Module {
 public:
  GemmaMlpImpl(const WeightSource& weights, const GemmaConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(GemmaMlp);

class GemmaDecoderLayerImpl : public torch::nn::Module {
 public:
  GemmaDecoderLayerImpl(const WeightSource& weights, const GemmaConfig& config);
  // x [B,S,hidden] -> [B,S,hidden]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& allowed);

  GemmaAttention self_attn{nullptr};
  GemmaMlp mlp{nullptr};
  GemmaRmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  GemmaRmsNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};
};
TORCH_MODULE(GemmaDecoderLayer);

class GemmaTextEncoderImpl : public torch::nn::Module {
 public:
  // `weights` points at the tower's keys ("embed_tokens.weight", "layers.0...", "norm.weight").
  GemmaTextEncoderImpl(const WeightSource& weights, GemmaConfig config);
  // input_ids, attention_mask [B,S] int64 (left-padded; positions are 0..S-1 over the padded
  // sequence, as the reference passes no position_ids). Returns num_hidden_layers + 1 tensors
  // [B,S,hidden] in the weight dtype: hs[0] the scaled embedding, hs[i] the raw output of layer i-1,
  // hs[last] the final norm of the last layer's output.
  std::vector<torch::Tensor> forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

  const GemmaConfig config;
  GemmaEmbedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  GemmaRmsNorm norm{nullptr};
};
TORCH_MODULE(GemmaTextEncoder);

// The key prefix of the text tower in `set`: "language_model.model." (Google's shards),
// "model.language_model." (saved by transformers 5) or "model." (text-only). Throws
// core::InvalidInput naming the file when none holds embed_tokens.weight.
std::string find_gemma_prefix(const core::SafetensorsSet& set);

// A Gemma 3 directory: config.json plus model.safetensors or sharded
// model-0000k-of-0000N.safetensors with model.safetensors.index.json. Weights are converted to
// `options` (dtype and device) one tensor at a time; every missing tensor is listed in one error.
GemmaTextEncoder load_gemma_text_encoder(const std::filesystem::path& directory,
                                         torch::TensorOptions options);

}  // namespace avtrain::models::text
