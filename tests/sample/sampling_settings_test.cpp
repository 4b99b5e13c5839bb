#include "sample/sampling_settings.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace avtrain::sample {
namespace {

TEST(SamplingSettings, StgBlockKeepsTheRelativeDepthOfBlock28Of48) {
  EXPECT_EQ(stg_block_for_depth(48), 28);
  EXPECT_EQ(stg_block_for_depth(60), 35);  // 28 * 60 / 48 = 35
  EXPECT_EQ(stg_block_for_depth(12), 7);   // 28 * 12 / 48 = 7
  EXPECT_EQ(stg_block_for_depth(2), 1);    // round(1.17) = 1, the last block
  EXPECT_EQ(stg_block_for_depth(1), 0);    // round(0.58) = 1, clamped to the only block
  EXPECT_EQ(stg_block_for_depth(6), 4);    // 3.5 rounds half to even (DECISIONS.md §9)
  EXPECT_EQ(stg_block_for_depth(18), 10);  // 10.5 -> 10
}

TEST(SamplingSettings, StgBlockOfAModelWithoutBlocksIsRefused) {
  EXPECT_THROW(stg_block_for_depth(0), core::InvalidInput);
}

TEST(SamplingSettings, DefaultsAreThoseOfDecision23) {
  const SamplingSettings settings;
  EXPECT_EQ(settings.steps, 30);
  EXPECT_EQ(settings.seed, 42u);
  const auto video = settings.video_guider(48);
  EXPECT_EQ(video.cfg_scale, 3.0);
  EXPECT_EQ(video.stg_scale, 1.0);
  EXPECT_EQ(video.stg_blocks, std::vector<int64_t>{28});
  EXPECT_EQ(video.modality_scale, 3.0);
  EXPECT_EQ(video.rescale_scale, 0.7);
  const auto audio = settings.audio_guider(2);
  EXPECT_EQ(audio.cfg_scale, 7.0);
  EXPECT_EQ(audio.stg_scale, 1.0);
  EXPECT_EQ(audio.stg_blocks, std::vector<int64_t>{1});
  EXPECT_EQ(audio.modality_scale, 3.0);
  EXPECT_EQ(audio.rescale_scale, 0.7);
}

}  // namespace
}  // namespace avtrain::sample
