#include "models/video_vae/video_vae_encoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/video_vae/space_to_depth.h"
#include "testing/golden.h"
#include "video_vae_fixtures.h"

namespace avtrain::models {
namespace {

using video_vae_testing::random_tiny_encoder;
using video_vae_testing::smooth_video;

std::shared_ptr<const core::SafetensorsSet> open_set(const std::filesystem::path& path) {
  return std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
}

// golden/README.md: VAEs rtol = atol = 1e-5 in float32.
constexpr testing::Tolerance kGoldenTolerance{1e-5, 1e-5};

TEST(VideoVaeEncoderGolden, LatentMatchesReferenceInFloat32) {
  AVTRAIN_REQUIRE_GOLDEN(path, "video_vae_encoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto encoder = load_video_vae_encoder(open_set(path), torch::kFloat32);
  const auto latent = encoder->encode(golden.tensor("input.video"));
  AVTRAIN_EXPECT_CLOSE(latent, golden.tensor("output.latent"), kGoldenTolerance, "output.latent");
}

TEST(VideoVaeEncoderGolden, IntermediatesMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "video_vae_encoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto encoder = load_video_vae_encoder(open_set(path), torch::kFloat32);
  const torch::NoGradGuard no_grad;
  auto x = encoder->conv_in(patchify(golden.tensor("input.video"), encoder->config.patch_size), true);
  AVTRAIN_EXPECT_CLOSE(x, golden.tensor("debug.conv_in"), kGoldenTolerance, "debug.conv_in");
  for (size_t index = 0; index < encoder->down_blocks.size(); ++index) {
    auto& block = encoder->down_blocks[index];
    x = block.res ? block.res->forward(x.clone(), true) : block.downsample->forward(x.clone(), true);
    const auto name = "debug.down_blocks." + std::to_string(index);
    AVTRAIN_EXPECT_CLOSE(x, golden.tensor(name), kGoldenTolerance, name);
  }
}

TEST(VideoVaeEncoderGolden, FrameByFrameStepsGiveTheSameLatent) {
  AVTRAIN_REQUIRE_GOLDEN(path, "video_vae_encoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  const auto set = open_set(path);
  auto config = VideoVaeConfig::from_metadata(set->metadata(), path.string());
  config.chunk_elements = 1;  // one output frame per convolution / normalization step
  const auto encoder_weights = WeightSource::from_checkpoint(set, "vae.encoder.", torch::kFloat32);
  const auto statistics = WeightSource::from_checkpoint(set, "vae.per_channel_statistics.", torch::kFloat32);
  VideoVaeEncoder encoder(encoder_weights, statistics, config);
  encoder_weights.finish("video VAE encoder");
  AVTRAIN_EXPECT_CLOSE(encoder->encode(golden.tensor("input.video")), golden.tensor("output.latent"),
                       kGoldenTolerance, "output.latent (chunked)");
}

TEST(VideoVaeEncoder, OutputFollowsTheFrameAndSizeRules) {
  auto encoder = random_tiny_encoder();
  EXPECT_EQ(encoder->encode(smooth_video(1, 32, 64)).sizes(), (std::vector<int64_t>{1, 8, 1, 1, 2}));
  EXPECT_EQ(encoder->encode(smooth_video(17, 64, 32)).sizes(), (std::vector<int64_t>{1, 8, 3, 2, 1}));
}

TEST(VideoVaeEncoder, RefusesFrameCountsThatAreNot8kPlus1) {
  auto encoder = random_tiny_encoder();
  try {
    encoder->encode(smooth_video(10, 32, 32));
    FAIL() << "10 frames accepted";
  } catch (const core::InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("has 10 frames"), std::string::npos) << message;
    EXPECT_NE(message.find("Use 9 or 17 frames"), std::string::npos) << message;
  }
  EXPECT_THROW(encoder->encode(smooth_video(9, 48, 32)), core::InvalidInput);  // 48 is not a multiple of 32
  EXPECT_THROW(encoder->encode(torch::zeros({1, 4, 9, 32, 32})), core::InvalidInput);
}

TEST(VideoVaeEncoder, FirstLatentFrameDependsOnTheFirstPixelFrameOnly) {
  auto encoder = random_tiny_encoder();
  auto video = smooth_video(9, 32, 32);
  const auto before = encoder->encode(video);
  video.narrow(2, 1, 8).mul_(-0.5);
  const auto after = encoder->encode(video);
  EXPECT_TRUE(torch::equal(before.narrow(2, 0, 1), after.narrow(2, 0, 1)));  // causal (specs §3.2)
  EXPECT_FALSE(torch::allclose(before.narrow(2, 1, 1), after.narrow(2, 1, 1)));
}

TEST(VideoVaeEncoder, FullSizeKeysAndShapesEqualTheReferenceListing) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  std::ifstream file(path);
  const auto listing = nlohmann::json::parse(file);
  const auto config = VideoVaeConfig::from_checkpoint(listing["config"]);
  const auto root = WeightSource::meta("vae.", torch::kBFloat16);
  VideoVaeEncoder encoder(root.at("encoder"), root.at("per_channel_statistics"), config);
  std::map<std::string, std::vector<int64_t>> ours;
  int64_t parameters = 0;
  for (const auto& [key, shape] : root.taken()) {
    EXPECT_TRUE(ours.emplace(key, shape).second) << "taken twice: " << key;
    int64_t count = 1;
    for (const auto size : shape) count *= size;
    if (key.find("per_channel_statistics") == std::string::npos) parameters += count;
  }
  std::map<std::string, std::vector<int64_t>> reference;
  for (const auto& [key, entry] : listing["components"]["video_vae_encoder"]["keys"].items()) {
    reference.emplace(key, entry["shape"].get<std::vector<int64_t>>());
  }
  EXPECT_EQ(ours, reference);
  EXPECT_EQ(ours.size(), 86u);
  EXPECT_EQ(parameters, listing["components"]["video_vae_encoder"]["num_parameters"].get<int64_t>());
  // Module paths are the ltx-core module keys (checkpoint keys without "vae.encoder.").
  EXPECT_EQ(encoder->named_parameters().size() + encoder->named_buffers().size(), 86u);
  EXPECT_TRUE(encoder->named_parameters().contains("down_blocks.5.conv.conv.weight"));
  EXPECT_TRUE(encoder->named_buffers().contains("per_channel_statistics.std-of-means"));
}

}  // namespace
}  // namespace avtrain::models
