#include "train/lr_schedule.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace avtrain::train {
namespace {

TEST(LinearLrSchedule, StartsAtTheBaseRateAndEndsAtATenth) {
  const LinearLrSchedule schedule{2e-4, 2000};
  EXPECT_DOUBLE_EQ(schedule.at_step(1), 2e-4);
  // trainer.md §4: lr (1 - 0.9 (n - 1) / steps) at optimizer step n.
  EXPECT_DOUBLE_EQ(schedule.at_step(1001), 2e-4 * (1 - 0.9 * 1000 / 2000));
  EXPECT_DOUBLE_EQ(schedule.at_step(2000), 2e-4 * (1 - 0.9 * 1999 / 2000));
  EXPECT_DOUBLE_EQ(schedule.at_step(2001), 2e-5);
  EXPECT_DOUBLE_EQ(schedule.at_step(5000), 2e-5);  // LinearLR holds the end factor
}

TEST(LinearLrSchedule, DecreasesMonotonically) {
  const LinearLrSchedule schedule{1e-3, 10};
  for (int64_t step = 1; step <= 10; ++step)
    EXPECT_LT(schedule.at_step(step + 1), schedule.at_step(step)) << step;
}

TEST(LinearLrSchedule, RefusesStepZero) {
  const LinearLrSchedule schedule{1e-3, 10};
  EXPECT_THROW(schedule.at_step(0), core::InvalidInput);
}

}  // namespace
}  // namespace avtrain::train
