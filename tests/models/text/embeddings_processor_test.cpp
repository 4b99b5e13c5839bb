#include "models/text/embeddings_processor.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "testing/golden.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

TEST(EmbeddingsProcessorGolden, VideoAndAudioContextMatchLtxCoreInFloat32) {
  AVTRAIN_REQUIRE_GOLDEN(path, "text_connector_tiny.safetensors");
  const testing::GoldenFile golden(path);
  const auto stand_in = json::parse(golden.metadata("gemma_stand_in"));
  auto set = std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
  auto processor =
      load_embeddings_processor(set, stand_in.at("hidden_size").get<int64_t>(),
                                stand_in.at("num_hidden_layers").get<int64_t>(), torch::kFloat32);
  torch::NoGradGuard no_grad;
  EmbeddingsProcessorTrace trace;
  const auto mask = golden.tensor("input.attention_mask");
  const auto context = processor->forward_stacked(golden.tensor("input.hidden_states"), mask, &trace);
  // golden/README.md: connector rtol = atol = 1e-5.
  const testing::Tolerance tolerance{1e-5, 1e-5};
  AVTRAIN_EXPECT_CLOSE(trace.video_features, golden.tensor("debug.video_features"), tolerance,
                       "video_features");
  AVTRAIN_EXPECT_CLOSE(trace.audio_features, golden.tensor("debug.audio_features"), tolerance,
                       "audio_features");
  EXPECT_TRUE(torch::equal(trace.right_pad_sort_idx, golden.tensor("debug.right_pad_sort_idx")));
  for (size_t i = 0; i < 2; ++i) {
    const auto block = std::to_string(i);
    AVTRAIN_EXPECT_CLOSE(trace.video_blocks.at(i), golden.tensor("debug.video_connector.block" + block),
                         tolerance, "video block " + block);
    AVTRAIN_EXPECT_CLOSE(trace.audio_blocks.at(i), golden.tensor("debug.audio_connector.block" + block),
                         tolerance, "audio block " + block);
  }
  AVTRAIN_EXPECT_CLOSE(context.video, golden.tensor("output.video_encoding"), tolerance, "video_encoding");
  AVTRAIN_EXPECT_CLOSE(context.audio, golden.tensor("output.audio_encoding"), tolerance, "audio_encoding");
  EXPECT_TRUE(torch::equal(context.attention_mask, golden.tensor("output.attention_mask")));

  // The same through the list of hidden states (how Gemma's output arrives).
  const auto states = golden.tensor("input.hidden_states").unbind(-1);
  const auto again = processor->forward(std::vector<torch::Tensor>(states.begin(), states.end()), mask);
  AVTRAIN_EXPECT_CLOSE(again.video, context.video, testing::Tolerance::absolute(1e-5),
                       "video from the list of states");
}

TEST(EmbeddingsProcessorGolden, FullSizeKeysAndShapesEqualTheLtx23Layout) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  std::ifstream in(path);
  const auto layout = json::parse(in);
  const auto& component = layout.at("components").at("text_embeddings_processor");
  const auto config = EmbeddingsProcessorConfig::from_transformer_config(
      layout.at("config").at("transformer"), 3840, 48, "ltx23_full_keys.json");
  EXPECT_EQ(config.video_dim, 4096);
  EXPECT_EQ(config.audio_dim, 2048);
  EXPECT_EQ(config.audio.num_layers, 8);  // falls back to connector_num_layers
  EXPECT_TRUE(config.video.gated);
  EXPECT_TRUE(config.video.float64_grid);
  EXPECT_EQ(config.video.max_pos, 4096);

  const auto features = WeightSource::meta(kFeatureExtractorPrefix);
  const auto video = WeightSource::meta(kVideoConnectorPrefix);
  const auto audio = WeightSource::meta(kAudioConnectorPrefix);
  EmbeddingsProcessor processor(features, video, audio, config);
  std::map<std::string, std::vector<int64_t>> ours;
  for (const auto* source : {&features, &video, &audio}) {
    for (const auto& [key, shape] : source->taken())
      EXPECT_TRUE(ours.emplace(key, shape).second) << "taken twice: " << key;
  }
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& [key, entry] : component.at("keys").items())
    expected[key] = entry.at("shape").get<std::vector<int64_t>>();
  EXPECT_EQ(ours.size(), expected.size());
  for (const auto& [key, shape] : expected) {
    const auto found = ours.find(key);
    if (found == ours.end()) {
      ADD_FAILURE() << "not taken: " << key;
    } else {
      EXPECT_EQ(found->second, shape) << key;
    }
  }
  for (const auto& [key, shape] : ours)
    EXPECT_TRUE(expected.count(key)) << "not in the reference layout: " << key;
  int64_t parameters = 0;
  for (const auto& [key, shape] : ours) {
    int64_t count = 1;
    for (const auto d : shape) count *= d;
    parameters += count;
  }
  EXPECT_EQ(parameters, component.at("num_parameters").get<int64_t>());
}

json v2_transformer_config() {
  return {{"num_attention_heads", 2},
          {"attention_head_dim", 16},
          {"audio_num_attention_heads", 2},
          {"audio_attention_head_dim", 8},
          {"connector_num_attention_heads", 2},
          {"connector_attention_head_dim", 16},
          {"audio_connector_num_attention_heads", 2},
          {"audio_connector_attention_head_dim", 8},
          {"caption_proj_before_connector", true},
          {"caption_projection_first_linear", false},
          {"caption_proj_input_norm", false},
          {"caption_projection_second_linear", false}};
}

TEST(EmbeddingsProcessorConfig, RefusesLtx2AndPartialOrUnknownV2ConfigsNamingTheKey) {
  auto v1 = v2_transformer_config();
  for (const char* key : {"caption_proj_before_connector", "caption_projection_first_linear",
                          "caption_proj_input_norm", "caption_projection_second_linear"}) {
    v1.erase(key);
  }
  auto partial = v2_transformer_config();
  partial.erase("caption_proj_input_norm");
  auto wrong = v2_transformer_config();
  wrong["caption_projection_first_linear"] = true;
  auto interleaved = v2_transformer_config();
  interleaved["rope_type"] = "interleaved";
  auto mismatch = v2_transformer_config();
  mismatch["connector_attention_head_dim"] = 8;
  const std::vector<std::pair<json, std::string>> cases = {
      {v1, "caption_proj_before_connector is absent; this is an LTX-2 (19B"},
      {partial, "caption_proj_input_norm is absent"},
      {wrong, "caption_projection_first_linear is true"},
      {interleaved, "rope_type is 'interleaved'"},
      {mismatch, "the video connector is 2 heads x 8 = 16 wide but the video aggregate projection gives 32"},
  };
  for (const auto& [config, message] : cases) {
    try {
      EmbeddingsProcessorConfig::from_transformer_config(config, 24, 4, "ckpt.safetensors");
      ADD_FAILURE() << "accepted: " << message;
    } catch (const core::InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find("ckpt.safetensors"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(EmbeddingsProcessor, RightPadOrderIsStableAndPutsValidTokensFirst) {
  const auto mask = torch::tensor({{0, 0, 1, 1, 0, 1}}, torch::kInt64);
  EXPECT_TRUE(torch::equal(right_pad_order(mask), torch::tensor({{2, 3, 5, 0, 1, 4}}, torch::kInt64)));
}

}  // namespace
}  // namespace avtrain::models::text
