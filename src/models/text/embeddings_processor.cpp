#include "models/text/embeddings_processor.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

// ltx-core's _V2_EXPECTED_CONFIG: LTX-2.3 sets all four, LTX-2 (V1) none.
const std::vector<std::pair<std::string, bool>> kV2Keys = {{"caption_proj_before_connector", true},
                                                           {"caption_projection_first_linear", false},
                                                           {"caption_proj_input_norm", false},
                                                           {"caption_projection_second_linear", false}};

}  // namespace

EmbeddingsProcessorConfig EmbeddingsProcessorConfig::from_transformer_config(const json& t,
                                                                             int64_t gemma_hidden_size,
                                                                             int64_t gemma_num_layers,
                                                                             const std::string& source) {
  const auto refuse = [&](const std::string& key, const std::string& value, const std::string& why) {
    return core::InvalidInput(fmt::format("{}: config.transformer.{} is {}; {}", source, key, value, why));
  };
  size_t present = 0;
  for (const auto& [key, expected] : kV2Keys) present += t.contains(key) ? 1 : 0;
  if (present == 0) {
    throw refuse("caption_proj_before_connector", "absent",
                 "this is an LTX-2 (19B, feature extractor V1) checkpoint and avtrain implements the LTX-2.3 "
                 "text path "
                 "(DECISIONS.md §1). Use ltx-2.3-22b-dev.safetensors.");
  }
  for (const auto& [key, expected] : kV2Keys) {
    if (!t.contains(key))
      throw refuse(key, "absent", "LTX-2.3 checkpoints set all four caption projection keys.");
    if (!t.at(key).is_boolean() || t.at(key).get<bool>() != expected) {
      throw refuse(key, t.at(key).dump(), fmt::format("LTX-2.3 (feature extractor V2) has {}.", expected));
    }
  }
  try {
    const std::string rope_type = t.value("rope_type", std::string("split"));
    if (rope_type != "split") {
      throw refuse("rope_type", "'" + rope_type + "'", "avtrain implements split RoPE (LTX-2.3) only.");
    }
    const auto max_pos = t.value("connector_positional_embedding_max_pos", std::vector<int64_t>{1});
    if (max_pos.size() != 1 || max_pos[0] <= 0) {
      throw refuse(
          "connector_positional_embedding_max_pos", t.at("connector_positional_embedding_max_pos").dump(),
          "the connectors have one position axis, so it holds one positive number (LTX-2.3: [4096]).");
    }
    EmbeddingsProcessorConfig config;
    config.gemma_hidden_size = gemma_hidden_size;
    config.hidden_states = gemma_num_layers + 1;
    config.video_dim = t.at("num_attention_heads").get<int64_t>() * t.at("attention_head_dim").get<int64_t>();
    config.audio_dim =
        t.at("audio_num_attention_heads").get<int64_t>() * t.at("audio_attention_head_dim").get<int64_t>();

    ConnectorOptions video;
    video.heads = t.value("connector_num_attention_heads", int64_t{30});
    video.head_dim = t.value("connector_attention_head_dim", int64_t{128});
    video.num_layers = t.value("connector_num_layers", int64_t{2});
    video.gated = t.value("connector_apply_gated_attention", false);
    video.ff_bias = t.value("connector_ff_bias", true);
    video.max_pos = max_pos[0];
    // The reference compares the value with "float64"; anything else selects the float32 grid.
    video.float64_grid = t.contains("frequencies_precision") && t.at("frequencies_precision") == "float64";
    ConnectorOptions audio = video;
    audio.heads = t.value("audio_connector_num_attention_heads", video.heads);
    audio.head_dim = t.value("audio_connector_attention_head_dim", video.head_dim);
    audio.num_layers = t.value("audio_connector_num_layers", video.num_layers);
    config.video = video;
    config.audio = audio;
    for (const auto& [name, connector, dim] :
         {std::tuple{"video", video, config.video_dim}, std::tuple{"audio", audio, config.audio_dim}}) {
      if (connector.head_dim % 2 != 0 || connector.inner_dim() != dim) {
        throw core::InvalidInput(
            fmt::format("{}: the {} connector is {} heads x {} = {} wide but the {} aggregate projection "
                        "gives {}; the checkpoint's "
                        "config.transformer is inconsistent.",
                        source, name, connector.heads, connector.head_dim, connector.inner_dim(), name, dim));
      }
    }
    return config;
  } catch (const json::exception& e) {
    throw core::InvalidInput(fmt::format(
        "{}: config.transformer lacks or mistypes a key the text path needs ({}).", source, e.what()));
  }
}

EmbeddingsProcessorConfig EmbeddingsProcessorConfig::from_checkpoint(const core::SafetensorsSet& set,
                                                                     int64_t gemma_hidden_size,
                                                                     int64_t gemma_num_layers) {
  const auto found = set.metadata().find("config");
  if (found == set.metadata().end()) {
    throw core::InvalidInput(
        fmt::format("{}: the safetensors header has no __metadata__ 'config'; LTX checkpoints carry "
                    "their config there. Use the released ltx-2.3 file.",
                    set.description()));
  }
  json config;
  try {
    config = json::parse(found->second);
  } catch (const json::exception& e) {
    throw core::InvalidInput(
        fmt::format("{}: __metadata__ 'config' is not valid JSON ({}).", set.description(), e.what()));
  }
  if (!config.contains("transformer")) {
    throw core::InvalidInput(
        fmt::format("{}: __metadata__ 'config' has no 'transformer' section.", set.description()));
  }
  return from_transformer_config(config.at("transformer"), gemma_hidden_size, gemma_num_layers,
                                 set.description());
}

torch::Tensor right_pad_order(const torch::Tensor& attention_mask) {
  const auto valid = (attention_mask != 0).to(torch::kInt32);
  return std::get<1>(torch::sort(valid, /*stable=*/true, /*dim=*/-1, /*descending=*/true));
}

EmbeddingsProcessorImpl::EmbeddingsProcessorImpl(const WeightSource& feature_weights,
                                                 const WeightSource& video_weights,
                                                 const WeightSource& audio_weights,
                                                 const EmbeddingsProcessorConfig& config_)
    : config(config_) {
  feature_extractor = register_module(
      "feature_extractor", FeatureExtractor(feature_weights, config.gemma_hidden_size, config.hidden_states,
                                            config.video_dim, config.audio_dim));
  video_connector = register_module("video_connector", EmbeddingsConnector(video_weights, config.video));
  audio_connector = register_module("audio_connector", EmbeddingsConnector(audio_weights, config.audio));
}

TextContext EmbeddingsProcessorImpl::forward(const std::vector<torch::Tensor>& hidden_states,
                                             const torch::Tensor& attention_mask,
                                             EmbeddingsProcessorTrace* trace) {
  if (static_cast<int64_t>(hidden_states.size()) != config.hidden_states) {
    throw core::InvalidInput(
        fmt::format("embeddings processor: got {} Gemma hidden states, the checkpoint's text "
                    "projection expects {} (a Gemma with {} layers)",
                    hidden_states.size(), config.hidden_states, config.hidden_states - 1));
  }
  return forward_stacked(torch::stack(hidden_states, -1), attention_mask, trace);
}

TextContext EmbeddingsProcessorImpl::forward_stacked(const torch::Tensor& stacked,
                                                     const torch::Tensor& attention_mask,
                                                     EmbeddingsProcessorTrace* trace) {
  const auto mask = attention_mask.to(stacked.device());
  auto [video, audio] = feature_extractor(stacked, mask);
  // Valid tokens first, padding last, in a stable order (text_encoder.md §4.1).
  const auto order = right_pad_order(mask);
  const auto gather = [&](const torch::Tensor& t) {
    return torch::gather(t, 1, order.unsqueeze(-1).expand_as(t));
  };
  const auto valid = torch::gather(mask != 0, 1, order);
  if (trace) {
    trace->video_features = video;
    trace->audio_features = audio;
    trace->right_pad_sort_idx = order;
  }
  TextContext context;
  // The reference multiplies the video output by the connector's mask, all ones once registers
  // replaced the padding: nothing to do.
  context.video = video_connector(gather(video), valid, trace ? &trace->video_blocks : nullptr);
  context.audio = audio_connector(gather(audio), valid, trace ? &trace->audio_blocks : nullptr);
  context.attention_mask = torch::ones({mask.size(0), mask.size(1)}, mask.options().dtype(torch::kInt64));
  return context;
}

EmbeddingsProcessor load_embeddings_processor(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                              int64_t gemma_hidden_size, int64_t gemma_num_layers,
                                              torch::TensorOptions options) {
  const auto config =
      EmbeddingsProcessorConfig::from_checkpoint(*checkpoint, gemma_hidden_size, gemma_num_layers);
  const auto features = WeightSource::from_checkpoint(checkpoint, kFeatureExtractorPrefix, options);
  const auto video = WeightSource::from_checkpoint(checkpoint, kVideoConnectorPrefix, options);
  const auto audio = WeightSource::from_checkpoint(checkpoint, kAudioConnectorPrefix, options);
  EmbeddingsProcessor processor(features, video, audio, config);
  features.finish("text feature extractor");
  video.finish("video embeddings connector");
  audio.finish("audio embeddings connector");
  core::logger("models").info(
      "{}: text embeddings processor: V2 features {}x{} -> video {} / audio {}; connectors video {} blocks "
      "{}x{}, "
      "audio {} blocks {}x{}{}",
      checkpoint->description(), config.gemma_hidden_size, config.hidden_states, config.video_dim,
      config.audio_dim, config.video.num_layers, config.video.heads, config.video.head_dim,
      config.audio.num_layers, config.audio.heads, config.audio.head_dim,
      config.video.gated ? ", gated" : "");
  return processor;
}

}  // namespace avtrain::models::text
