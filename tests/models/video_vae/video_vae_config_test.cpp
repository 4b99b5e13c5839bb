#include "models/video_vae/video_vae_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "testing/golden_dir.h"
#include "video_vae_fixtures.h"

namespace avtrain::models {
namespace {

using video_vae_testing::tiny_checkpoint_config;

// The message of the InvalidInput that `config` raises ("" when it is accepted).
std::string refusal(const nlohmann::json& config) {
  try {
    VideoVaeConfig::from_checkpoint(config);
  } catch (const core::InvalidInput& error) {
    return error.what();
  }
  return "";
}

TEST(VideoVaeConfig, ReadsTheTinyConfigAndDerivesFactorsAndWidths) {
  const auto config = VideoVaeConfig::from_checkpoint(tiny_checkpoint_config());
  EXPECT_EQ(config.latent_channels, 8);
  EXPECT_EQ(config.time_factor(), 8);
  EXPECT_EQ(config.space_factor(), 32);
  EXPECT_EQ(config.encoder_out_channels(), 9);          // 8 means + 1 shared log-variance
  EXPECT_EQ(config.decoder_bottleneck_channels(), 32);  // 4 x (2 * 1 * 2 * 2)
  ASSERT_EQ(config.encoder_blocks.size(), 9u);
  EXPECT_EQ(config.encoder_blocks[0].num_layers, 2);
  EXPECT_EQ(config.encoder_blocks[7].multiplier, 1);
  EXPECT_FALSE(config.causal_decoder);
}

TEST(VideoVaeConfig, ReadsTheFullSizeLtx23Config) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  std::ifstream file(path);
  const auto listing = nlohmann::json::parse(file);
  const auto config = VideoVaeConfig::from_checkpoint(listing["config"]);
  EXPECT_EQ(config.latent_channels, 128);
  EXPECT_EQ(config.decoder_bottleneck_channels(), 1024);  // specs §4.1
  EXPECT_EQ(config.time_factor(), 8);
  EXPECT_EQ(config.space_factor(), 32);
  EXPECT_EQ(config.encoder_out_channels(), 129);
}

TEST(VideoVaeConfig, RefusesTimestepConditioningAndNamesTheKey) {
  auto config = tiny_checkpoint_config();
  config["vae"]["timestep_conditioning"] = true;
  EXPECT_NE(refusal(config).find("vae.timestep_conditioning is true"), std::string::npos) << refusal(config);
  // ltx-core's default is true, so a config without the key is refused too.
  config["vae"].erase("timestep_conditioning");
  EXPECT_NE(refusal(config).find("timestep_conditioning"), std::string::npos);
}

TEST(VideoVaeConfig, RefusesAMissingPaddingModeBecauseTheDecoderDefaultIsReflect) {
  auto config = tiny_checkpoint_config();
  config["vae"].erase("spatial_padding_mode");
  EXPECT_NE(refusal(config).find("vae.spatial_padding_mode is \"reflect\""), std::string::npos)
      << refusal(config);
}

TEST(VideoVaeConfig, RefusesUnsupportedBlocksAndClassesNamingTheEntry) {
  auto config = tiny_checkpoint_config();
  config["vae"]["decoder_blocks"][1] =
      nlohmann::json::array({"compress_all", {{"multiplier", 2}, {"residual", true}}});
  EXPECT_NE(refusal(config).find("vae.decoder_blocks[1]"), std::string::npos) << refusal(config);

  config = tiny_checkpoint_config();
  config["vae"]["encoder_blocks"][0] = nlohmann::json::array({"attn", {{"num_layers", 1}}});
  EXPECT_NE(refusal(config).find("block type 'attn'"), std::string::npos) << refusal(config);

  config = tiny_checkpoint_config();
  config["vae"]["_class_name"] = "CausalDiffusionVAE";
  EXPECT_NE(refusal(config).find("vae._class_name"), std::string::npos);

  EXPECT_NE(refusal(nlohmann::json::object()).find("\"vae\" section is missing"), std::string::npos);
}

TEST(VideoVaeConfig, AcceptsIntegerBlockParametersAsLtxCoreDoes) {
  auto config = tiny_checkpoint_config();
  config["vae"]["encoder_blocks"][0] = nlohmann::json::array({"res_x", 3});
  EXPECT_EQ(VideoVaeConfig::from_checkpoint(config).encoder_blocks[0].num_layers, 3);
}

TEST(VideoVaeConfig, MetadataWithoutConfigNamesTheFile) {
  try {
    VideoVaeConfig::from_metadata({}, "model.safetensors");
    FAIL() << "accepted metadata without config";
  } catch (const core::InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("model.safetensors: the file has no \"config\" metadata"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace avtrain::models
