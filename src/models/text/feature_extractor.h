#pragma once
// LTX-2.3's feature extractor ("V2", text_encoder.md §3.2): the Gemma hidden states stacked on a last
// layer axis [B,T,D,L], an RMS norm per token and per layer over D, flattened with the layer index
// fastest (d*L + l), padding rows zeroed, then two aggregate projections with bias, each input
// rescaled by sqrt(out / D). Every step is an op in the activation dtype (bf16 in production),
// mirrored op for op. Keys "text_embedding_projection.{video,audio}_aggregate_embed.{weight,bias}".

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "models/layers/linear.h"
#include "models/layers/weight_source.h"

namespace avtrain::models::text {

class FeatureExtractorImpl : public torch::nn::Module {
 public:
  // gemma_hidden_size D, hidden_states L (Gemma layers + 1); video_dim/audio_dim: the aggregate outputs.
  FeatureExtractorImpl(const WeightSource& weights, int64_t gemma_hidden_size, int64_t hidden_states,
                       int64_t video_dim, int64_t audio_dim);
  // stacked [B,T,D,L]; attention_mask [B,T] (1 = token) -> {video [B,T,video_dim], audio [B,T,audio_dim]}
  // in the original token order. Padding rows equal the bias vectors.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& stacked,
                                                  const torch::Tensor& attention_mask);

  int64_t gemma_hidden_size, hidden_states;
  Linear video_aggregate_embed{nullptr}, audio_aggregate_embed{nullptr};
};
TORCH_MODULE(FeatureExtractor);

}  // namespace avtrain::models::text
