#include "service/request/closest_name.h"

#include <gtest/gtest.h>

#include <array>

namespace avtrain::service {
namespace {

constexpr std::array<std::string_view, 5> kNames = {"rank", "number_of_steps", "number_of_frames",
                                                    "validation_number_of_frames", "learning_rate"};

TEST(ClosestName, EditDistanceCountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("rank", "rank"), 0u);
}

TEST(ClosestName, SuggestsTheNearestKnownName) {
  EXPECT_EQ(closest_name("ranks", kNames), "rank");
  EXPECT_EQ(closest_name("numberOfSteps", kNames), "number_of_steps");
  EXPECT_EQ(closest_name("number-of-frames", kNames), "number_of_frames");
  EXPECT_EQ(closest_name("learnig_rate", kNames), "learning_rate");
  EXPECT_EQ(closest_name("steps", kNames), "number_of_steps");    // contained in it
  EXPECT_EQ(closest_name("frames", kNames), "number_of_frames");  // the nearer of two containing it
  EXPECT_EQ(closest_name("colour", kNames), std::nullopt);
  EXPECT_EQ(closest_name("x", kNames), std::nullopt);
}

}  // namespace
}  // namespace avtrain::service
