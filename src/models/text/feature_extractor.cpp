#include "models/text/feature_extractor.h"

#include <torch/torch.h>

#include <cmath>

namespace avtrain::models::text {

FeatureExtractorImpl::FeatureExtractorImpl(const WeightSource& w, int64_t hidden_size, int64_t states,
                                           int64_t video_dim, int64_t audio_dim)
    : gemma_hidden_size(hidden_size), hidden_states(states) {
  const auto flat = hidden_size * states;
  video_aggregate_embed =
      register_module("video_aggregate_embed", Linear(w.at("video_aggregate_embed"), flat, video_dim));
  audio_aggregate_embed =
      register_module("audio_aggregate_embed", Linear(w.at("audio_aggregate_embed"), flat, audio_dim));
}

std::pair<torch::Tensor, torch::Tensor> FeatureExtractorImpl::forward(const torch::Tensor& x,
                                                                      const torch::Tensor& attention_mask) {
  const auto batch = x.size(0), tokens = x.size(1);
  // norm_and_concat_per_token_rms: each op rounds in the activation dtype (§3.2 steps 1-3).
  const auto variance = (x * x).mean(2, /*keepdim=*/true);  // [B,T,1,L]
  auto normed =
      (x * torch::rsqrt(variance + 1e-6)).reshape({batch, tokens, gemma_hidden_size * hidden_states});
  const auto valid = attention_mask.to(x.device()).to(torch::kBool).unsqueeze(-1);
  normed = torch::where(valid, normed, torch::zeros_like(normed));
  const auto rescale = [&](int64_t out) {
    return std::sqrt(static_cast<double>(out) / static_cast<double>(gemma_hidden_size));
  };
  return {video_aggregate_embed(normed * rescale(video_aggregate_embed->out_features)),
          audio_aggregate_embed(normed * rescale(audio_aggregate_embed->out_features))};
}

}  // namespace avtrain::models::text
