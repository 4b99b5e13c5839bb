#pragma once
// LTX-2.3's embeddings processor (text_encoder.md §3-4): feature extractor V2, then the tokens
// reordered so that valid ones come first (stable), then the video and audio connectors. Its output
// is the DiT's cross-attention context; it depends only on the prompt, so it is computed once per
// prompt and cached (DECISIONS.md §3, prompt_cache.h).
//
//   auto processor = load_embeddings_processor(ltx_checkpoint, gemma->config.hidden_size,
//                                              gemma->config.num_hidden_layers, options);
//   const auto context = processor->forward(hidden_states, batch.attention_mask);

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "models/layers/weight_source.h"
#include "models/text/embeddings_connector.h"
#include "models/text/feature_extractor.h"

namespace avtrain::models::text {

// Checkpoint key prefixes of the three parts (text_encoder.md §3.3, §4.5).
inline constexpr const char* kFeatureExtractorPrefix = "text_embedding_projection.";
inline constexpr const char* kVideoConnectorPrefix = "model.diffusion_model.video_embeddings_connector.";
inline constexpr const char* kAudioConnectorPrefix = "model.diffusion_model.audio_embeddings_connector.";

struct EmbeddingsProcessorConfig {
  int64_t gemma_hidden_size = 0;         // D
  int64_t hidden_states = 0;             // L = Gemma layers + 1
  int64_t video_dim = 0, audio_dim = 0;  // aggregate outputs = the DiT's context widths
  ConnectorOptions video, audio;

  // From the LTX checkpoint's config.transformer (ltx-core's _create_feature_extractor and the two
  // connector configurators, with their defaults). Only the V2 feature extractor (LTX-2.3) is
  // implemented: the four V2 keys must be present with their V2 values, else core::InvalidInput
  // names the key and value. `source` names the file in messages.
  static EmbeddingsProcessorConfig from_transformer_config(const nlohmann::json& transformer,
                                                           int64_t gemma_hidden_size,
                                                           int64_t gemma_num_layers,
                                                           const std::string& source);
  // Reads `set`'s __metadata__["config"] and takes its "transformer" section.
  static EmbeddingsProcessorConfig from_checkpoint(const core::SafetensorsSet& set, int64_t gemma_hidden_size,
                                                   int64_t gemma_num_layers);
};

// The DiT's text context for a batch (text_encoder.md §6): rows in connector order (the n valid
// tokens first, then processed registers); all rows are meant to be attended, so the mask is all ones.
struct TextContext {
  torch::Tensor video;           // [B,T,video_dim]
  torch::Tensor audio;           // [B,T,audio_dim]
  torch::Tensor attention_mask;  // [B,T] int64, all ones
};

// Intermediates for tests (golden/README.md text_connector_tiny debug tensors).
struct EmbeddingsProcessorTrace {
  torch::Tensor video_features, audio_features;  // feature extractor outputs, original order
  torch::Tensor right_pad_sort_idx;              // [B,T] int64
  std::vector<torch::Tensor> video_blocks, audio_blocks;
};

class EmbeddingsProcessorImpl : public torch::nn::Module {
 public:
  // One source per part, each prefixed with its checkpoint prefix (so that each part's finish()
  // lists its own missing and unused keys).
  EmbeddingsProcessorImpl(const WeightSource& feature_extractor_weights,
                          const WeightSource& video_connector_weights,
                          const WeightSource& audio_connector_weights,
                          const EmbeddingsProcessorConfig& config);

  // hidden_states: L tensors [B,T,D] (Gemma's output); attention_mask [B,T] (1 = token, any padding side).
  TextContext forward(const std::vector<torch::Tensor>& hidden_states, const torch::Tensor& attention_mask,
                      EmbeddingsProcessorTrace* trace = nullptr);
  // The same with the states already stacked [B,T,D,L].
  TextContext forward_stacked(const torch::Tensor& stacked, const torch::Tensor& attention_mask,
                              EmbeddingsProcessorTrace* trace = nullptr);

  const EmbeddingsProcessorConfig config;
  FeatureExtractor feature_extractor{nullptr};
  EmbeddingsConnector video_connector{nullptr}, audio_connector{nullptr};
};
TORCH_MODULE(EmbeddingsProcessor);

// The stable permutation [B,T] that moves valid tokens (mask 1) before padding, keeping order.
torch::Tensor right_pad_order(const torch::Tensor& attention_mask);

// Builds the processor from an LTX checkpoint (weights converted to `options` one tensor at a time).
// Throws core::InvalidInput listing every missing tensor of each part.
EmbeddingsProcessor load_embeddings_processor(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                              int64_t gemma_hidden_size, int64_t gemma_num_layers,
                                              torch::TensorOptions options);

}  // namespace avtrain::models::text
