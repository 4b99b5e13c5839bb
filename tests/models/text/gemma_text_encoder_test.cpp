#include "models/text/gemma_text_encoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "models/text/tiny_text.h"
#include "models/text/token_batch.h"
#include "models/text/tokenizer.h"
#include "testing/golden.h"
#include "testing/temp_dir.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

struct GoldenGemma {
  testing::GoldenFile golden;
  GemmaConfig config;
  GemmaTextEncoder encoder{nullptr};
  explicit GoldenGemma(const std::filesystem::path& path)
      : golden(path), config(GemmaConfig::from_json(json::parse(golden.metadata("config")), path.string())) {
    auto set = std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
    const auto weights = WeightSource::from_checkpoint(set, find_gemma_prefix(*set), torch::kFloat32);
    encoder = GemmaTextEncoder(weights, config);
    weights.finish("Gemma 3 text encoder");
  }
};

TEST(GemmaGolden, ConfigResolvesLayerTypesAndRopeLikeTransformers) {
  AVTRAIN_REQUIRE_GOLDEN(path, "gemma3_text_tiny.safetensors");
  const testing::GoldenFile golden(path);
  const auto config = GemmaConfig::from_json(json::parse(golden.metadata("config")), "golden");
  const auto resolved = json::parse(golden.metadata("resolved_text_config"));
  ASSERT_EQ(config.sliding.size(), resolved.at("layer_types").size());
  for (size_t i = 0; i < config.sliding.size(); ++i) {
    EXPECT_EQ(config.sliding[i], resolved.at("layer_types")[i] == "sliding_attention") << "layer " << i;
  }
  EXPECT_EQ(config.full_rope.factor, 8.0);
  EXPECT_EQ(config.full_rope.theta, 1e6);
  EXPECT_EQ(config.sliding_rope.theta, 1e4);
  EXPECT_EQ(config.sliding_window, 8);
  for (const auto& [name, rope] :
       {std::pair{"full_attention", config.full_rope}, std::pair{"sliding_attention", config.sliding_rope}}) {
    const auto expected_inv = golden.tensor(std::string("debug.rope.") + name + ".inv_freq");
    EXPECT_TRUE(torch::equal(gemma_inv_freq(rope, config.head_dim), expected_inv)) << name;
    const auto [cos, sin] = gemma_rope(rope, config.head_dim, 24, torch::kFloat32, torch::kCPU);
    AVTRAIN_EXPECT_CLOSE(cos, golden.tensor(std::string("debug.rope.") + name + ".cos")[0],
                         testing::Tolerance::absolute(1e-6), name);
    AVTRAIN_EXPECT_CLOSE(sin, golden.tensor(std::string("debug.rope.") + name + ".sin")[0],
                         testing::Tolerance::absolute(1e-6), name);
  }
  const auto mask = golden.tensor("input.attention_mask");
  EXPECT_TRUE(torch::equal(gemma_attention_mask(mask, 0).to(torch::kInt64),
                           golden.tensor("debug.attention_mask.full_attention")));
  EXPECT_TRUE(torch::equal(gemma_attention_mask(mask, 8).to(torch::kInt64),
                           golden.tensor("debug.attention_mask.sliding_attention")));
}

TEST(GemmaGolden, EveryHiddenStateMatchesTransformersInFloat32PaddingRowsIncluded) {
  AVTRAIN_REQUIRE_GOLDEN(path, "gemma3_text_tiny.safetensors");
  GoldenGemma gemma(path);
  torch::NoGradGuard no_grad;
  const auto hidden_states = gemma.encoder->forward(gemma.golden.tensor("input.input_ids"),
                                                    gemma.golden.tensor("input.attention_mask"));
  ASSERT_EQ(hidden_states.size(), 13u);
  for (size_t i = 0; i < hidden_states.size(); ++i) {
    const auto name = "output.hidden_states." + std::to_string(i);
    const auto expected = gemma.golden.tensor(name);
    // golden/README.md: |diff| <= 1e-5 * max|ref| per hidden state.
    AVTRAIN_EXPECT_CLOSE(hidden_states[i], expected, testing::Tolerance::of_absmax(1e-5, expected), name);
    EXPECT_TRUE(torch::isfinite(hidden_states[i]).all().item<bool>()) << name;
  }
}

TEST(GemmaGolden, LayerZeroIntermediatesMatch) {
  AVTRAIN_REQUIRE_GOLDEN(path, "gemma3_text_tiny.safetensors");
  GoldenGemma gemma(path);
  torch::NoGradGuard no_grad;
  const auto x = gemma.encoder->embed_tokens(gemma.golden.tensor("input.input_ids"));
  const auto& layer = gemma.encoder->layers->ptr<GemmaDecoderLayerImpl>(0);
  const auto normed = layer->input_layernorm(x);
  const auto expect = [&](const torch::Tensor& actual, const std::string& name) {
    const auto expected = gemma.golden.tensor(name);
    AVTRAIN_EXPECT_CLOSE(actual, expected, testing::Tolerance::of_absmax(1e-5, expected), name);
  };
  expect(normed, "debug.layer0.input_layernorm");
  expect(layer->self_attn->v_proj(normed), "debug.layer0.v_proj");
  const auto [cos, sin] =
      gemma_rope(gemma.config.sliding_rope, gemma.config.head_dim, 24, torch::kFloat32, torch::kCPU);
  const auto attn = layer->self_attn->forward(
      normed, cos, sin, gemma_attention_mask(gemma.golden.tensor("input.attention_mask"), 8));
  expect(attn, "debug.layer0.self_attn");
}

TEST(GemmaConfig, ReadsTransformers5LayerTypesAndRopeParameters) {
  const json config = {{"model_type", "gemma3_text"},
                       {"num_hidden_layers", 2},
                       {"layer_types", {"full_attention", "sliding_attention"}},
                       {"rope_parameters",
                        {{"full_attention", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 5e5}}},
                         {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 2e4}}}}}};
  const auto parsed = GemmaConfig::from_json(config, "config.json");
  EXPECT_EQ(parsed.sliding, (std::vector<bool>{false, true}));
  EXPECT_EQ(parsed.full_rope.factor, 4.0);
  EXPECT_EQ(parsed.full_rope.theta, 5e5);
  EXPECT_EQ(parsed.sliding_rope.theta, 2e4);
  const auto round_trip = GemmaConfig::from_json(tiny_gemma_config().to_json(), "tiny");
  EXPECT_EQ(round_trip.sliding, tiny_gemma_config().sliding);
  EXPECT_EQ(round_trip.full_rope.factor, 8.0);
  EXPECT_EQ(round_trip.head_dim, 24);
  // transformers' strict config refuses 48.0 where Hugging Face writes 48.
  EXPECT_TRUE(
      tiny_gemma_config().to_json().at("text_config").at("query_pre_attn_scalar").is_number_integer());
}

TEST(GemmaConfig, RefusesWhatItDoesNotImplementNamingKeyAndValue) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"model_type", "llama"}}, "model_type is 'llama'"},
      {{{"model_type", "gemma3_text"}, {"attn_logit_softcapping", 50.0}}, "attn_logit_softcapping is 50.0"},
      {{{"model_type", "gemma3"},
        {"text_config", {{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 2}}}}}},
       "text_config.rope_scaling.rope_type is 'yarn'"},
      {{{"model_type", "gemma3_text"}, {"num_attention_heads", 6}, {"num_key_value_heads", 4}},
       "num_attention_heads 6 is not a multiple of num_key_value_heads 4"},
  };
  for (const auto& [config, message] : cases) {
    try {
      GemmaConfig::from_json(config, "config.json");
      ADD_FAILURE() << "accepted " << config.dump();
    } catch (const core::InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(TinyGemma, DirectoryLoadsAndEncodesAPromptBatchWithFiniteStates) {
  testing::TempDir dir;
  write_tiny_gemma_directory(dir.path(), 7);
  const auto tokenizer = Tokenizer::from_file(dir / "tokenizer.json");
  auto gemma = load_gemma_text_encoder(dir.path(), torch::kFloat32);
  const auto batch = encode_ltx_batch(tokenizer, {"A cat walks in the garden.", ""}, 16);
  torch::NoGradGuard no_grad;
  const auto states = gemma->forward(batch.input_ids, batch.attention_mask);
  ASSERT_EQ(states.size(), 4u);
  for (const auto& state : states) {
    EXPECT_EQ(state.sizes(), (std::vector<int64_t>{2, 16, 64}));
    EXPECT_TRUE(torch::isfinite(state).all().item<bool>());
  }
  // Valid rows do not depend on the amount of left padding: padding keys are masked and RoPE scores
  // depend only on relative positions (this is what makes the valid-tokens-only mode of §7.2 exact).
  const auto longer = encode_ltx_batch(tokenizer, {"A cat walks in the garden."}, 20);
  const auto states20 = gemma->forward(longer.input_ids, longer.attention_mask);
  const auto n = batch.attention_mask[0].sum().item<int64_t>();
  ASSERT_GT(n, 4) << "the prompt must be longer than the sliding window";
  EXPECT_TRUE(torch::allclose(states[3][0].slice(0, 16 - n), states20[3][0].slice(0, 20 - n), 1e-4, 1e-4));
  // A second load of the same directory gives identical weights (deterministic seed).
  testing::TempDir again;
  write_tiny_gemma_directory(again.path(), 7);
  auto gemma2 = load_gemma_text_encoder(again.path(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(gemma2->forward(batch.input_ids, batch.attention_mask)[3], states[3]));
}

TEST(GemmaTextEncoder, LoadingADirectoryWithMissingTensorsListsThem) {
  testing::TempDir dir;
  write_tiny_gemma_directory(dir.path(), 1);
  auto config = tiny_gemma_config();
  config.num_hidden_layers = 4;  // the file holds 3 layers
  config.sliding.push_back(true);
  std::ofstream(dir / "config.json") << config.to_json().dump();
  try {
    load_gemma_text_encoder(dir.path(), torch::kFloat32);
    FAIL() << "no exception";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("language_model.model.layers.3.self_attn.q_proj.weight"),
              std::string::npos)
        << e.what();
  }
}

TEST(GemmaConfig, AConfigFileThatCannotBeOpenedOrIsNotJsonIsNamed) {
  testing::TempDir dir;
  const auto message_of = [](const std::string& path) {
    try {
      GemmaConfig::from_file(path);
    } catch (const core::InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const std::string missing = message_of((dir / "config.json").string());
  EXPECT_NE(missing.find("config.json: cannot open"), std::string::npos) << missing;
  std::ofstream(dir / "config.json") << "{\"model_type\": ";
  const std::string broken = message_of((dir / "config.json").string());
  EXPECT_NE(broken.find("config.json: not valid JSON"), std::string::npos) << broken;
}

TEST(GemmaTextEncoder, TokenIdsOutsideTheVocabularyNameATokenizerOfAnotherModel) {
  testing::TempDir dir;
  write_tiny_gemma_directory(dir.path(), 1);
  auto gemma = load_gemma_text_encoder(dir.path(), torch::kFloat32);
  const auto ids = torch::tensor({{2, 5, 100000}}, torch::kLong);
  try {
    gemma->forward(ids, torch::ones_like(ids));
    FAIL() << "no exception";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("token id 100000 is outside the model's vocabulary"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("does not belong to this Gemma directory"), std::string::npos)
        << e.what();
  }
}

TEST(GemmaTextEncoder, WeightsWithoutAGemmaTextTowerAreRefusedSayingWhatToPointAt) {
  testing::TempDir dir;
  write_tiny_gemma_directory(dir.path(), 1);
  core::write_tensors(dir / "model.safetensors", {{"vision_tower.patch_embed.weight", torch::zeros({2, 2})}});
  try {
    load_gemma_text_encoder(dir.path(), torch::kFloat32);
    FAIL() << "no exception";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("no Gemma 3 text tower found"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("google/gemma-3-12b-it"), std::string::npos) << e.what();
  }
}

TEST(GemmaTextEncoder, FullSizeLayoutHasTheSpecParameterCountOnMeta) {
  GemmaConfig config = GemmaConfig::from_json({{"model_type", "gemma3"},
                                               {"text_config",
                                                {{"hidden_size", 3840},
                                                 {"intermediate_size", 15360},
                                                 {"num_hidden_layers", 48},
                                                 {"num_attention_heads", 16},
                                                 {"num_key_value_heads", 8},
                                                 {"head_dim", 256},
                                                 {"query_pre_attn_scalar", 256},
                                                 {"sliding_window", 1024},
                                                 {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}},
                                                 {"vocab_size", 262208}}}},
                                              "gemma-3-12b-it/config.json");
  const auto weights = WeightSource::meta("language_model.model.");
  GemmaTextEncoder encoder(weights, config);
  int64_t parameters = 0;
  for (const auto& [key, shape] : weights.taken()) {
    int64_t count = 1;
    for (const auto d : shape) count *= d;
    parameters += count;
  }
  // text_encoder.md §2.3: embedding 1,006,878,720 + 48 x 224,148,992 + final norm 3840.
  EXPECT_EQ(parameters, 1006878720LL + 48LL * 224148992LL + 3840LL);
  EXPECT_EQ(weights.taken().size(), 1u + 48u * 13u + 1u);
  int64_t global = 0;
  for (const bool sliding : config.sliding) global += sliding ? 0 : 1;
  EXPECT_EQ(global, 8);
  EXPECT_FALSE(config.sliding[5]);
  EXPECT_TRUE(config.sliding[4]);
}

}  // namespace
}  // namespace avtrain::models::text
