// The full-size LTX-2.3 transformer built on the meta device has exactly the keys and shapes of
// golden/ltx23_full_keys.json (its "transformer" component), without allocating its 38 GB.

#include "models/transformer/transformer_model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "testing/golden_dir.h"

namespace avtrain::models {
namespace {

TEST(TransformerLayoutGolden, FullSizeConfigBuildsExactlyTheReferenceKeysAndShapes) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  std::ifstream stream(path);
  const auto listing = nlohmann::json::parse(stream);
  const auto& component = listing.at("components").at("transformer");
  const auto config = TransformerConfig::from_checkpoint(listing.at("config").at("transformer"), path.string());
  EXPECT_EQ(config.num_layers, 48);

  const auto weights = WeightSource::meta("model.diffusion_model.");
  TransformerModel model(weights, config);

  std::map<std::string, std::vector<int64_t>> expected, expected_modules;
  for (const auto& [key, entry] : component.at("keys").items()) {
    expected[key] = entry.at("shape").get<std::vector<int64_t>>();
    expected_modules[entry.at("module_key").get<std::string>()] = expected[key];
  }
  std::map<std::string, std::vector<int64_t>> built;
  int64_t parameters = 0;
  for (const auto& [key, shape] : weights.taken()) {
    EXPECT_TRUE(built.emplace(key, shape).second) << "taken twice: " << key;
    int64_t count = 1;
    for (const auto s : shape) count *= s;
    parameters += count;
  }
  for (const auto& [key, shape] : expected) {
    const auto it = built.find(key);
    if (it == built.end()) {
      ADD_FAILURE() << "missing: " << key;
    } else {
      EXPECT_EQ(it->second, shape) << key;
    }
  }
  for (const auto& [key, shape] : built) EXPECT_TRUE(expected.count(key)) << "not in the reference: " << key;
  EXPECT_EQ(built.size(), 4186u);
  EXPECT_EQ(parameters, int64_t{18988838144});
  EXPECT_EQ(component.at("num_parameters").get<int64_t>(), parameters);

  // The module tree's own names are the reference's module keys (what LoRA files and named_parameters use).
  std::map<std::string, std::vector<int64_t>> registered;
  for (const auto& item : model->named_parameters()) registered[item.key()] = item.value().sizes().vec();
  EXPECT_EQ(registered, expected_modules);
  for (const auto& item : model->named_parameters()) ASSERT_TRUE(item.value().is_meta()) << item.key();
}

TEST(TransformerLayoutGolden, EveryLinearIsListedWithItsModulePath) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  std::ifstream stream(path);
  const auto listing = nlohmann::json::parse(stream);
  TransformerModel model(WeightSource::meta(), TransformerConfig::from_checkpoint(listing.at("config").at("transformer")));
  const auto linears = model->named_linears();
  EXPECT_EQ(linears.size(), 48u * 34u + 28u);  // transformer.md §7
  std::set<std::string> paths;
  for (const auto& [name, linear] : linears) paths.insert(name);
  for (const auto* name : {"transformer_blocks.0.attn1.to_out.0", "transformer_blocks.47.video_to_audio_attn.to_k",
                           "transformer_blocks.3.ff.net.0.proj", "transformer_blocks.3.audio_ff.net.2",
                           "adaln_single.emb.timestep_embedder.linear_1", "audio_proj_out"}) {
    EXPECT_TRUE(paths.count(name)) << name;
  }
}

}  // namespace
}  // namespace avtrain::models
