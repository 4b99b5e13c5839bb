#pragma once
// AVTRAIN_EXPECT_CLOSE that also records the max |diff| as a test property ("max_abs_diff.<what>"),
// so `--gtest_output=xml:...` reports how close each golden output came, not only pass/fail.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iomanip>
#include <sstream>
#include <string>

#include "testing/golden.h"

namespace avtrain::testing {

inline ::testing::AssertionResult recorded_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                                 Tolerance tolerance, const std::string& what) {
  if (actual.sizes() == expected.sizes() && actual.numel() > 0) {
    const auto diff =
        (actual.detach().to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
    std::ostringstream text;
    text << std::scientific << std::setprecision(2) << diff;
    ::testing::Test::RecordProperty("max_abs_diff." + what, text.str());
  }
  return all_close(actual, expected, tolerance, what);
}

}  // namespace avtrain::testing

#define AUDIO_EXPECT_CLOSE(actual, expected, tolerance, what) \
  EXPECT_TRUE(::avtrain::testing::recorded_close((actual), (expected), (tolerance), (what)))
