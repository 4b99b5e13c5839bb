#include "models/video_vae/video_vae_tiling.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "testing/golden.h"
#include "video_vae_fixtures.h"

namespace avtrain::models {
namespace {

using video_vae_testing::random_tiny_decoder;
using video_vae_testing::random_tiny_encoder;
using video_vae_testing::smooth_video;

std::vector<float> values(const torch::Tensor& t) {
  const auto c = t.contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

TEST(VideoVaeTiling, DefaultsSplit89FramesAt768AsTheSpecExample) {
  // specs/vae_audio.md §6: 12 latent frames -> latent [0, 10) and [6, 12) -> pixel [0, 73) and [48, 89);
  // 24 latents wide fits one 768 px tile.
  const TilingOptions tiling;
  const auto frames = split_latent_axis(tiling.frames, 8, 12, true, TilingUse::decode, "frames");
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], (TileInterval{0, 10, 0, 3}));
  EXPECT_EQ(frames[1], (TileInterval{6, 12, 4, 0}));
  const auto first = temporal_pixel_span(frames[0], 8), second = temporal_pixel_span(frames[1], 8);
  EXPECT_EQ(std::make_pair(first.start, first.end), std::make_pair(int64_t{0}, int64_t{73}));
  EXPECT_EQ(std::make_pair(second.start, second.end), std::make_pair(int64_t{48}, int64_t{89}));
  EXPECT_EQ(split_latent_axis(tiling.width, 32, 24, false, TilingUse::decode, "width").size(), 1u);
  // 960 px = 30 latents: tiles of 24 sharing 2.
  const auto width = split_latent_axis(tiling.width, 32, 30, false, TilingUse::decode, "width");
  ASSERT_EQ(width.size(), 2u);
  EXPECT_EQ(width[0], (TileInterval{0, 24, 0, 2}));
  EXPECT_EQ(width[1], (TileInterval{22, 30, 2, 0}));
}

TEST(VideoVaeTiling, TrapezoidalMasksHaveTheReferenceRamps) {
  const std::vector<float> plain{1.0f / 3, 2.0f / 3, 1, 1, 0.5f};
  const auto mask = values(trapezoidal_mask(5, 2, 1, false));
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(mask[i], plain[i], 1e-7) << i;
  const auto causal = values(trapezoidal_mask(4, 2, 0, true));
  const std::vector<float> from_zero{0, 0.5f, 1, 1};
  for (size_t i = 0; i < from_zero.size(); ++i) EXPECT_NEAR(causal[i], from_zero[i], 1e-7) << i;
  // Overlapping decode tiles' pixel masks add up to one (so no division is needed).
  const auto a = temporal_pixel_span({0, 10, 0, 3}, 8), b = temporal_pixel_span({6, 12, 4, 0}, 8);
  EXPECT_TRUE(masks_are_complementary({{a, b}}, {89}));
}

TEST(VideoVaeTiling, RefusesSizesOffTheVaeGridNamingTheAxis) {
  try {
    split_latent_axis({20, 8}, 8, 12, true, TilingUse::decode, "frames");
    FAIL() << "20-frame tiles accepted";
  } catch (const core::InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("frames.tile_size is 20 frames"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(split_latent_axis({768, 48}, 32, 30, false, TilingUse::decode, "height"), core::InvalidInput);
  // Encoding needs 16 frames / 64 px of overlap (ltx-core's prepare_tiles_for_encoding).
  EXPECT_NO_THROW(split_latent_axis({80, 8}, 8, 12, true, TilingUse::decode, "frames"));
  EXPECT_THROW(split_latent_axis({80, 8}, 8, 12, true, TilingUse::encode, "frames"), core::InvalidInput);
}

// A latent that varies slowly in time and space, like the latent of a smooth clip.
torch::Tensor smooth_latent(int64_t frames, int64_t height, int64_t width) {
  const auto t = torch::linspace(0, 1, frames).view({1, 1, -1, 1, 1});
  const auto y = torch::linspace(0, 1, height).view({1, 1, 1, -1, 1});
  const auto x = torch::linspace(0, 1, width).view({1, 1, 1, 1, -1});
  const auto base = torch::linspace(-1, 1, 8).view({1, -1, 1, 1, 1});
  return base + 0.2 * torch::sin(t + y + x + base);
}

TEST(VideoVaeTiling, TiledDecodeEqualsUntiledWhenOneTileCoversTheClip) {
  auto decoder = random_tiny_decoder();
  const auto latent = smooth_latent(3, 2, 3);
  EXPECT_TRUE(torch::equal(decoder->decode_tiled(latent, TilingOptions{}), decoder->decode(latent)));
}

TEST(VideoVaeTiling, TiledDecodePlacesTilesAndStreamsFramesInOrder) {
  auto decoder = random_tiny_decoder();
  const auto latent = smooth_latent(4, 4, 4);  // -> 25 frames of 128 x 128
  // 3-latent temporal tiles sharing 1 (latent [0, 3) and causal [1, 4) -> pixel [0, 17) and [8, 25));
  // 2-latent spatial tiles sharing 1 ([0, 2), [1, 3), [2, 4) -> pixel [0, 64), [32, 96), [64, 128)).
  const TilingOptions tiling{{24, 8}, {64, 32}, {64, 32}};
  std::vector<int64_t> chunk_frames;
  const auto tiled = decoder->decode_tiled(latent, tiling);
  decoder->decode_tiled(latent, tiling,
                        [&](const torch::Tensor& frames) { chunk_frames.push_back(frames.size(2)); });
  EXPECT_EQ(chunk_frames, (std::vector<int64_t>{8, 17}));  // the second group starts at pixel frame 8
  ASSERT_EQ(tiled.sizes(), (std::vector<int64_t>{1, 3, 25, 128, 128}));
  // Where one tile alone has full weight, the result is that tile decoded on its own: pixel frames
  // [0, 9) x [0, 32)^2 come from the first tile, frames [17, 25) x [96, 128)^2 from the last.
  const auto first = decoder->decode(latent.narrow(2, 0, 3).narrow(3, 0, 2).narrow(4, 0, 2));
  AVTRAIN_EXPECT_CLOSE(tiled.narrow(2, 0, 9).narrow(3, 0, 32).narrow(4, 0, 32),
                       first.narrow(2, 0, 9).narrow(3, 0, 32).narrow(4, 0, 32),
                       testing::Tolerance::absolute(1e-6), "first tile");
  const auto last = decoder->decode(latent.narrow(2, 1, 3).narrow(3, 2, 2).narrow(4, 2, 2));
  AVTRAIN_EXPECT_CLOSE(tiled.narrow(2, 17, 8).narrow(3, 96, 32).narrow(4, 96, 32),
                       last.narrow(2, 9, 8).narrow(3, 32, 32).narrow(4, 32, 32),
                       testing::Tolerance::absolute(1e-6), "last tile");
}

TEST(VideoVaeTiling, TemporallyTiledDecodeIsCloseToUntiledOnASmoothLatent) {
  auto decoder = random_tiny_decoder();
  const auto latent = smooth_latent(6, 2, 2);  // -> 41 frames; tiles latent [0, 4) and [1, 6)
  const auto tiled = decoder->decode_tiled(latent, TilingOptions{{32, 16}, {0, 0}, {0, 0}});
  const auto untiled = decoder->decode(latent);
  // Stated tolerance (DECISIONS.md §28: seams differ): the tiny random decoder sees about 8 latents
  // around each cell, more than a tile, so the seam frames differ by up to ~32% of max |video| (measured
  // 31%); the mean difference stays under 2.5% (measured 1.6%); frames before the overlap under 3%
  // (measured 1.9%).
  const double scale = untiled.abs().max().item<double>();
  const auto diff = (tiled - untiled).abs();
  EXPECT_LE(diff.mean().item<double>(), 0.025 * scale);
  EXPECT_LE(diff.max().item<double>(), 0.40 * scale);
  EXPECT_LE(diff.narrow(2, 0, 4).max().item<double>(), 0.03 * scale);
}

TEST(VideoVaeTiling, TiledEncodeEqualsUntiledWhenOneTileCoversTheClip) {
  auto encoder = random_tiny_encoder();
  const auto video = smooth_video(17, 64, 96);
  EXPECT_TRUE(torch::equal(encoder->encode_tiled(video, TilingOptions{}), encoder->encode(video)));
}

TEST(VideoVaeTiling, TiledEncodeIsCloseToUntiledOnASmoothClip) {
  auto encoder = random_tiny_encoder();
  const auto video = smooth_video(25, 128, 128);  // -> 4 x 4 x 4 latents
  const TilingOptions tiling{{24, 16}, {96, 64}, {96, 64}};
  const auto tiled = encoder->encode_tiled(video, tiling);
  const auto untiled = encoder->encode(video);
  ASSERT_EQ(tiled.sizes(), untiled.sizes());
  const double scale = untiled.abs().max().item<double>();
  const auto diff = (tiled - untiled).abs();
  // Stated tolerance (measured: mean 4.1%, max 28% of max |latent|; tiles as small as the receptive field).
  EXPECT_LE(diff.mean().item<double>(), 0.05 * scale);
  EXPECT_LE(diff.max().item<double>(), 0.35 * scale);
  // Latent (0, 0, 0) has full weight in the first tile only (pixel frames [0, 17), [0, 96)^2).
  const auto first = encoder->encode(video.narrow(2, 0, 17).narrow(3, 0, 96).narrow(4, 0, 96));
  AVTRAIN_EXPECT_CLOSE(tiled.narrow(2, 0, 1).narrow(3, 0, 1).narrow(4, 0, 1),
                       first.narrow(2, 0, 1).narrow(3, 0, 1).narrow(4, 0, 1),
                       testing::Tolerance::absolute(1e-6), "first tile");
}

}  // namespace
}  // namespace avtrain::models
