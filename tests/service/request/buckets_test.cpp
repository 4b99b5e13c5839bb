// Bucket sizes, frame-count snapping and the reference-scaling rules, against tables written out by
// hand from MISSION.md and specs/trainer.md §1.5 (not computed by the code under test).
#include "service/request/buckets.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

namespace avtrain::service {
namespace {

struct BucketRow {
  Resolution resolution;
  AspectRatio aspect_ratio;
  VideoSize size;
  std::set<int> downscale_factors;  // trainer.md §1.5 "d allowed by the reference"
};

const std::vector<BucketRow>& bucket_table() {
  static const std::vector<BucketRow> rows = {
      {Resolution::low, AspectRatio::landscape_16_9, {512, 288}, {1}},
      {Resolution::low, AspectRatio::square_1_1, {512, 512}, {1, 2, 4, 8}},
      {Resolution::low, AspectRatio::portrait_9_16, {288, 512}, {1}},
      {Resolution::medium, AspectRatio::landscape_16_9, {768, 448}, {1, 2}},
      {Resolution::medium, AspectRatio::square_1_1, {768, 768}, {1, 2, 3, 4, 6, 8}},
      {Resolution::medium, AspectRatio::portrait_9_16, {448, 768}, {1, 2}},
      {Resolution::high, AspectRatio::landscape_16_9, {960, 544}, {1}},
      {Resolution::high, AspectRatio::square_1_1, {960, 960}, {1, 2, 3, 5, 6}},
      {Resolution::high, AspectRatio::portrait_9_16, {544, 960}, {1}},
  };
  return rows;
}

// trainer.md §1.5 "Legal F values" for S = 1..8 (S = 1: every 8k+1 from 9 to 121).
const std::map<int, std::set<int>>& temporal_table() {
  static const std::map<int, std::set<int>> table = {
      {1, {9, 17, 25, 33, 41, 49, 57, 65, 73, 81, 89, 97, 105, 113, 121}},
      {2, {17, 33, 49, 65, 81, 97, 113}},
      {3, {25, 49, 73, 97, 121}},
      {4, {33, 65, 97}},
      {5, {41, 81, 121}},
      {6, {49, 97}},
      {7, {57, 113}},
      {8, {65}},
  };
  return table;
}

TEST(Buckets, SizesMatchTheMissionTable) {
  for (const auto& row : bucket_table()) {
    EXPECT_EQ(bucket_size(row.resolution, row.aspect_ratio), row.size)
        << to_string(row.resolution) << " " << to_string(row.aspect_ratio);
  }
}

TEST(Buckets, NamesRoundTripAndUnknownNamesAreRefused) {
  for (const auto resolution : kResolutions) EXPECT_EQ(parse_resolution(to_string(resolution)), resolution);
  for (const auto aspect_ratio : kAspectRatios) EXPECT_EQ(parse_aspect_ratio(to_string(aspect_ratio)), aspect_ratio);
  EXPECT_FALSE(parse_resolution("Medium"));
  EXPECT_FALSE(parse_aspect_ratio("16x9"));
  EXPECT_EQ(to_string(VideoSize{768, 448}), "768x448");
}

TEST(Buckets, EveryDownscaleFactorOfEveryBucketMatchesTheTrainerTable) {
  for (const auto& row : bucket_table()) {
    std::vector<int> expected(row.downscale_factors.begin(), row.downscale_factors.end());
    EXPECT_EQ(fitting_downscale_factors(row.size), expected) << to_string(row.size);
    for (int factor = 1; factor <= 8; ++factor) {
      const bool legal = row.downscale_factors.count(factor) > 0;
      EXPECT_EQ(downscale_fits(row.size, factor), legal) << to_string(row.size) << " d=" << factor;
      EXPECT_EQ(downscale_misfit(row.size, factor).empty(), legal) << to_string(row.size) << " d=" << factor;
      if (legal) {
        const auto reference = reference_size(row.size, factor);
        EXPECT_EQ(reference.width * factor, row.size.width);
        EXPECT_EQ(reference.height % 32, 0);
      }
    }
  }
}

TEST(Buckets, DownscaleMisfitSaysWhichSideFailsAndWhy) {
  EXPECT_EQ(downscale_misfit({768, 448}, 4), "448/4 = 112 is not a multiple of 32");
  EXPECT_EQ(downscale_misfit({768, 448}, 3), "448/3 is not a whole number");
  EXPECT_EQ(downscale_misfit({960, 960}, 4), "960/4 = 240 is not a multiple of 32");  // once, not per side
  EXPECT_EQ(downscale_misfit({512, 288}, 7), "512/7 is not a whole number and 288/7 is not a whole number");
}

TEST(Buckets, SnappingGoesDownToTheNearest8kPlus1) {
  EXPECT_EQ(snap_frame_count(90), 89);
  EXPECT_EQ(snap_frame_count(100), 97);
  EXPECT_EQ(snap_frame_count(9), 9);
  EXPECT_EQ(snap_frame_count(121), 121);
  EXPECT_EQ(snap_frame_count(16), 9);
  EXPECT_EQ(snap_frame_count(17), 17);
  for (int count = 9; count <= 121; ++count) {
    int expected = count;
    while ((expected - 1) % 8 != 0) --expected;
    EXPECT_EQ(snap_frame_count(count), expected) << count;
    EXPECT_EQ(is_valid_frame_count(count), expected == count) << count;
  }
}

TEST(Buckets, EveryTemporalFactorAgainstEveryFrameCountMatchesTheTrainerTable) {
  for (const auto& [factor, legal] : temporal_table()) {
    EXPECT_EQ(frame_counts_for_temporal_factor(factor), std::vector<int>(legal.begin(), legal.end())) << "S=" << factor;
    for (int frames = 9; frames <= 121; ++frames) {
      EXPECT_EQ(temporal_factor_fits(frames, factor), legal.count(frames) > 0) << "F=" << frames << " S=" << factor;
    }
  }
  EXPECT_EQ(fitting_temporal_factors(89), std::vector<int>({1}));
  EXPECT_EQ(fitting_temporal_factors(97), std::vector<int>({1, 2, 3, 4, 6}));
  EXPECT_EQ(fitting_temporal_factors(121), std::vector<int>({1, 3, 5}));
}

TEST(Buckets, ReferenceKeepsFrameZeroThenEverySthFrameFromOne) {
  // DECISIONS.md §15: indices [0, 1, 1+S, 1+2S, ...] < F.
  for (const auto& [factor, legal] : temporal_table()) {
    for (const int frames : legal) {
      int kept = 1;
      for (int idx = 1; idx < frames; idx += factor) ++kept;
      EXPECT_EQ(reference_frame_count(frames, factor), kept) << "F=" << frames << " S=" << factor;
      EXPECT_EQ((kept - 1) % 8, 0) << "the subsampled reference is itself 8k+1";
    }
  }
  EXPECT_EQ(reference_frame_count(97, 4), 25);
}

}  // namespace
}  // namespace avtrain::service
