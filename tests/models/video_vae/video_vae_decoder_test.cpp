#include "models/video_vae/video_vae_decoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "testing/golden.h"
#include "video_vae_fixtures.h"

namespace avtrain::models {
namespace {

using video_vae_testing::random_tiny_decoder;

std::shared_ptr<const core::SafetensorsSet> open_set(const std::filesystem::path& path) {
  return std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
}

// golden/README.md: VAEs rtol = 1e-5, video decoder atol = 2e-5 in float32.
constexpr testing::Tolerance kGoldenTolerance{2e-5, 1e-5};

TEST(VideoVaeDecoderGolden, VideoMatchesReferenceInFloat32) {
  AVTRAIN_REQUIRE_GOLDEN(path, "video_vae_decoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto decoder = load_video_vae_decoder(open_set(path), torch::kFloat32);
  const auto video = decoder->decode(golden.tensor("input.latent"));
  AVTRAIN_EXPECT_CLOSE(video, golden.tensor("output.video"), kGoldenTolerance, "output.video");
}

TEST(VideoVaeDecoderGolden, IntermediatesMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "video_vae_decoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto decoder = load_video_vae_decoder(open_set(path), torch::kFloat32);
  const torch::NoGradGuard no_grad;
  auto x = decoder->per_channel_statistics->un_normalize(golden.tensor("input.latent"));
  AVTRAIN_EXPECT_CLOSE(x, golden.tensor("debug.latent_unnormalized"), kGoldenTolerance,
                       "debug.latent_unnormalized");
  x = decoder->conv_in(x, false);
  AVTRAIN_EXPECT_CLOSE(x, golden.tensor("debug.conv_in"), kGoldenTolerance, "debug.conv_in");
  for (size_t index = 0; index < decoder->up_blocks.size(); ++index) {
    auto& block = decoder->up_blocks[index];
    x = block.res ? block.res->forward(x.clone(), false) : block.upsample->forward(x.clone(), false);
    const auto name = "debug.up_blocks." + std::to_string(index);
    AVTRAIN_EXPECT_CLOSE(x, golden.tensor(name), kGoldenTolerance, name);
  }
}

TEST(VideoVaeDecoderGolden, FrameByFrameStepsGiveTheSameVideo) {
  AVTRAIN_REQUIRE_GOLDEN(path, "video_vae_decoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  const auto set = open_set(path);
  auto config = VideoVaeConfig::from_metadata(set->metadata(), path.string());
  config.chunk_elements = 1;  // one output frame per convolution / normalization step
  const auto decoder_weights = WeightSource::from_checkpoint(set, "vae.decoder.", torch::kFloat32);
  const auto statistics = WeightSource::from_checkpoint(set, "vae.per_channel_statistics.", torch::kFloat32);
  VideoVaeDecoder decoder(decoder_weights, statistics, config);
  decoder_weights.finish("video VAE decoder");
  AVTRAIN_EXPECT_CLOSE(decoder->decode(golden.tensor("input.latent")), golden.tensor("output.video"),
                       kGoldenTolerance, "output.video (chunked)");
}

TEST(VideoVaeDecoder, OutputHas8TimesFramesMinus1PlusOneFrames) {
  auto decoder = random_tiny_decoder();
  EXPECT_EQ(decoder->decode(torch::randn({1, 8, 1, 1, 2})).sizes(), (std::vector<int64_t>{1, 3, 1, 32, 64}));
  EXPECT_EQ(decoder->decode(torch::randn({2, 8, 3, 2, 1})).sizes(), (std::vector<int64_t>{2, 3, 17, 64, 32}));
}

TEST(VideoVaeDecoder, KeepsTheLatentDtypeAndRefusesAWrongChannelCount) {
  auto decoder = random_tiny_decoder();
  EXPECT_EQ(decoder->decode(torch::randn({1, 8, 2, 1, 1}, torch::kFloat64)).scalar_type(), torch::kFloat64);
  try {
    decoder->decode(torch::randn({1, 16, 2, 1, 1}));
    FAIL() << "16 channels accepted";
  } catch (const core::InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("expected [batch, 8, frames, height, width]"), std::string::npos)
        << error.what();
  }
}

TEST(VideoVaeDecoder, LoadingListsEveryMissingKey) {
  AVTRAIN_REQUIRE_GOLDEN(path, "video_vae_encoder_tiny.safetensors");  // has the statistics, no decoder
  try {
    load_video_vae_decoder(open_set(path), torch::kFloat32);
    FAIL() << "decoder loaded from a file without decoder weights";
  } catch (const core::InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("the video VAE decoder needs 36 tensor(s) the file lacks"), std::string::npos)
        << message;
    EXPECT_NE(message.find("vae.decoder.conv_in.conv.weight"), std::string::npos) << message;
  }
}

TEST(VideoVaeDecoder, FullSizeKeysAndShapesEqualTheReferenceListing) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  std::ifstream file(path);
  const auto listing = nlohmann::json::parse(file);
  const auto config = VideoVaeConfig::from_checkpoint(listing["config"]);
  const auto root = WeightSource::meta("vae.", torch::kBFloat16);
  VideoVaeDecoder decoder(root.at("decoder"), root.at("per_channel_statistics"), config);
  std::map<std::string, std::vector<int64_t>> ours;
  int64_t parameters = 0;
  for (const auto& [key, shape] : root.taken()) {
    EXPECT_TRUE(ours.emplace(key, shape).second) << "taken twice: " << key;
    int64_t count = 1;
    for (const auto size : shape) count *= size;
    if (key.find("per_channel_statistics") == std::string::npos) parameters += count;
  }
  std::map<std::string, std::vector<int64_t>> reference;
  for (const auto& [key, entry] : listing["components"]["video_vae_decoder"]["keys"].items()) {
    reference.emplace(key, entry["shape"].get<std::vector<int64_t>>());
  }
  EXPECT_EQ(ours, reference);
  EXPECT_EQ(ours.size(), 86u);
  EXPECT_EQ(parameters, listing["components"]["video_vae_decoder"]["num_parameters"].get<int64_t>());
  EXPECT_TRUE(decoder->named_parameters().contains("up_blocks.7.conv.conv.weight"));
}

}  // namespace
}  // namespace avtrain::models
