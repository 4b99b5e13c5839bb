#include "train/timestep_sampler.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "testing/golden.h"

namespace avtrain::train {
namespace {

using testing::GoldenFile;
using testing::Tolerance;

TEST(TimestepSamplerGolden, SigmasFromStoredDrawsMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "timestep_sampler.safetensors");
  const GoldenFile golden(path);
  const ShiftedLogitNormalTimestepSampler sampler;
  const auto lengths = golden.tensor("input.seq_lengths");
  const auto shift_mu = golden.tensor("output.shift_mu");
  ASSERT_EQ(lengths.numel(), 6);
  for (int64_t case_idx = 0; case_idx < lengths.numel(); ++case_idx) {
    const auto length = lengths[case_idx].item<int64_t>();
    const auto prefix = "seq" + std::to_string(length);
    EXPECT_EQ(static_cast<float>(ShiftedLogitNormalTimestepSampler::shift_for_sequence_length(length)),
              shift_mu[case_idx].item<float>())
        << prefix;
    const auto [lo, hi] = sampler.percentile_bounds(length);
    AVTRAIN_EXPECT_CLOSE(torch::stack({lo, hi}), golden.tensor("debug." + prefix + ".percentile_bounds"),
                         Tolerance::absolute(1e-7), prefix + " percentile bounds");
    const auto sigmas = sampler.sigmas_from_draws(length, golden.tensor("input." + prefix + ".normal_draws"),
                                                  golden.tensor("input." + prefix + ".uniform_draws"),
                                                  golden.tensor("input." + prefix + ".mix_draws"));
    AVTRAIN_EXPECT_CLOSE(sigmas, golden.tensor("output." + prefix + ".sigmas"), Tolerance::absolute(1e-6),
                         prefix + " sigmas");
  }
}

TEST(TimestepSampler, ShiftIsLinearInTokensAndNotClamped) {
  EXPECT_NEAR(ShiftedLogitNormalTimestepSampler::shift_for_sequence_length(1024), 0.95, 1e-12);
  EXPECT_NEAR(ShiftedLogitNormalTimestepSampler::shift_for_sequence_length(4096), 2.05, 1e-12);
  // trainer.md §2.3's reference values.
  EXPECT_NEAR(ShiftedLogitNormalTimestepSampler::shift_for_sequence_length(93), 0.6166, 1e-4);
  EXPECT_NEAR(ShiftedLogitNormalTimestepSampler::shift_for_sequence_length(6120), 2.7747, 1e-4);
  const ShiftedLogitNormalTimestepSampler sampler;
  const auto [lo, hi] = sampler.percentile_bounds(4032);
  EXPECT_NEAR(lo.item<double>(), 0.3662, 1e-4);
  EXPECT_NEAR(hi.item<double>(), 0.9940, 1e-4);
}

TEST(TimestepSampler, SeededSamplesAreReproducibleAndInRange) {
  const ShiftedLogitNormalTimestepSampler sampler;
  auto first_generator = at::detail::createCPUGenerator(42);
  auto second_generator = at::detail::createCPUGenerator(42);
  const auto first = sampler.sample(2048, 4032, first_generator);
  const auto second = sampler.sample(2048, 4032, second_generator);
  EXPECT_TRUE(torch::equal(first, second));
  EXPECT_EQ(first.sizes(), torch::IntArrayRef({2048}));
  EXPECT_GE(first.min().item<float>(), 0.0f);
  EXPECT_LE(first.max().item<float>(), 1.0f);
  // Shifted towards high noise at this token count (mu ~ 2.03).
  EXPECT_GT(first.mean().item<float>(), 0.6f);
}

}  // namespace
}  // namespace avtrain::train
