#include "models/text/gemma_text_encoder.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"

namespace avtrain::models::text {

GemmaEmbeddingImpl::GemmaEmbeddingImpl(const WeightSource& w, int64_t vocab_size, int64_t hidden_size)
    : embed_scale(std::sqrt(static_cast<double>(hidden_size))) {
  weight = register_parameter("weight", w.take("weight", {vocab_size, hidden_size}), /*requires_grad=*/false);
}

torch::Tensor GemmaEmbeddingImpl::forward(const torch::Tensor& input_ids) {
  // The reference keeps the scale as a float32 buffer and casts it to the weight dtype.
  const auto scale = torch::tensor(static_cast<float>(embed_scale), weight.options().dtype(torch::kFloat32));
  return torch::embedding(weight, input_ids) * scale.to(weight.scalar_type());
}

GemmaMlpImpl::GemmaMlpImpl(const WeightSource& w, const GemmaConfig& config) {
  const auto hidden = config.hidden_size, inner = config.intermediate_size;
  gate_proj = register_module("gate_proj", Linear(w.at("gate_proj"), hidden, inner, /*bias=*/false));
  up_proj = register_module("up_proj", Linear(w.at("up_proj"), hidden, inner, /*bias=*/false));
  down_proj = register_module("down_proj", Linear(w.at("down_proj"), inner, hidden, /*bias=*/false));
}

torch::Tensor GemmaMlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::gelu(gate_proj(x), "tanh") * up_proj(x));
}

GemmaDecoderLayerImpl::GemmaDecoderLayerImpl(const WeightSource& w, const GemmaConfig& config) {
  const auto hidden = config.hidden_size;
  const auto eps = config.rms_norm_eps;
  self_attn = register_module("self_attn", GemmaAttention(w.at("self_attn"), config));
  mlp = register_module("mlp", GemmaMlp(w.at("mlp"), config));
  input_layernorm = register_module("input_layernorm", GemmaRmsNorm(w.at("input_layernorm"), hidden, eps));
  post_attention_layernorm = register_module("post_attention_layernorm",
                                             GemmaRmsNorm(w.at("post_attention_layernorm"), hidden, eps));
  pre_feedforward_layernorm = register_module("pre_feedforward_layernorm",
                                              GemmaRmsNorm(w.at("pre_feedforward_layernorm"), hidden, eps));
  post_feedforward_layernorm = register_module("post_feedforward_layernorm",
                                               GemmaRmsNorm(w.at("post_feedforward_layernorm"), hidden, eps));
}

torch::Tensor GemmaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                             const torch::Tensor& sin, const torch::Tensor& allowed) {
  // Sandwich layout: four norms per layer (text_encoder.md §2.2).
  auto h = x + post_attention_layernorm(self_attn(input_layernorm(x), cos, sin, allowed));
  return h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)));
}

GemmaTextEncoderImpl::GemmaTextEncoderImpl(const WeightSource& w, GemmaConfig config_)
    : config(std::move(config_)) {
  embed_tokens = register_module("embed_tokens",
                                 GemmaEmbedding(w.at("embed_tokens"), config.vocab_size, config.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  const auto layer_weights = w.at("layers");
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers->push_back(GemmaDecoderLayer(layer_weights.at(std::to_string(i)), config));
  }
  norm = register_module("norm", GemmaRmsNorm(w.at("norm"), config.hidden_size, config.rms_norm_eps));
}

std::vector<torch::Tensor> GemmaTextEncoderImpl::forward(const torch::Tensor& input_ids,
                                                         const torch::Tensor& attention_mask) {
  const auto seq_len = input_ids.size(1);
  const auto dtype = embed_tokens->weight.scalar_type();
  const auto device = embed_tokens->weight.device();
  const auto ids = input_ids.to(device);
  if (ids.numel() > 0 && (ids.max().item<int64_t>() >= config.vocab_size || ids.min().item<int64_t>() < 0)) {
    throw core::InvalidInput(
        fmt::format("Gemma 3 text encoder: token id {} is outside the model's vocabulary of {}; "
                    "the tokenizer.json does not belong to this Gemma directory.",
                    ids.max().item<int64_t>(), config.vocab_size));
  }
  const auto mask = attention_mask.to(device);
  const auto [full_cos, full_sin] = gemma_rope(config.full_rope, config.head_dim, seq_len, dtype, device);
  const auto [local_cos, local_sin] =
      gemma_rope(config.sliding_rope, config.head_dim, seq_len, dtype, device);
  const auto full_allowed = gemma_attention_mask(mask, /*sliding_window=*/0);
  const auto local_allowed = gemma_attention_mask(mask, config.sliding_window);

  std::vector<torch::Tensor> hidden_states;
  hidden_states.reserve(config.num_hidden_layers + 1);
  auto x = embed_tokens(ids);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    hidden_states.push_back(x);
    const auto layer = layers->ptr<GemmaDecoderLayerImpl>(i);
    x = config.sliding[i] ? layer->forward(x, local_cos, local_sin, local_allowed)
                          : layer->forward(x, full_cos, full_sin, full_allowed);
  }
  hidden_states.push_back(norm(x));  // the post-norm state replaces the last layer's raw output
  return hidden_states;
}

std::string find_gemma_prefix(const core::SafetensorsSet& set) {
  for (const char* prefix : {"language_model.model.", "model.language_model.", "model."}) {
    if (set.find(std::string(prefix) + "embed_tokens.weight")) return prefix;
  }
  throw core::InvalidInput(
      fmt::format("{}: no Gemma 3 text tower found: none of language_model.model.embed_tokens.weight, "
                  "model.language_model.embed_tokens.weight or model.embed_tokens.weight is present. Point "
                  "the text encoder "
                  "at a Gemma 3 directory such as google/gemma-3-12b-it.",
                  set.description()));
}

GemmaTextEncoder load_gemma_text_encoder(const std::filesystem::path& directory,
                                         torch::TensorOptions options) {
  auto config = GemmaConfig::from_file((directory / "config.json").string());
  auto set = std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_directory(directory));
  const auto weights = WeightSource::from_checkpoint(set, find_gemma_prefix(*set), options);
  GemmaTextEncoder encoder(weights, config);
  weights.finish("Gemma 3 text encoder");
  core::logger("models").info("{}: {}", directory.string(), config.summary());
  return encoder;
}

}  // namespace avtrain::models::text
