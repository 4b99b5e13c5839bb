#include "sample/sigma_schedule.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <string>
#include <utility>

#include "core/error.h"
#include "testing/golden.h"

namespace avtrain::sample {
namespace {

using testing::GoldenFile;
using testing::Tolerance;

// golden/README.md: the data was made with torch 1.13, where matching ltx-core's float32 operation order
// reproduces the stored values exactly. LibTorch 2's linspace computes every point on its own (1.13's
// vector path stepped from a base), 1 ulp apart at some points: the README's bound for a torch 2 run.
#if TORCH_VERSION_MAJOR >= 2
const Tolerance kAsReference{0, 1e-6};
#else
const auto kAsReference = Tolerance::absolute(0);
#endif

TEST(SigmaScheduleGolden, Ltx2MatchesReferenceExactlyForEveryStepAndTokenCount) {
  AVTRAIN_REQUIRE_GOLDEN(path, "scheduler_sigmas.safetensors");
  const GoldenFile golden(path);
  const std::pair<std::string, int64_t> token_cases[] = {
      {"default4096", 4096}, {"1024", 1024}, {"2040", 2040}, {"8160", 8160}, {"32640", 32640}};
  for (const int64_t steps : {2, 8, 20, 30, 40}) {
    for (const auto& [name, tokens] : token_cases) {
      const auto key = "output.ltx2.steps" + std::to_string(steps) + ".tokens" + name;
      Ltx2ScheduleOptions options;
      options.tokens = tokens;
      AVTRAIN_EXPECT_CLOSE(ltx2_sigmas(steps, options), golden.tensor(key), kAsReference, key);
    }
  }
}

TEST(SigmaScheduleGolden, Ltx2WithoutStretchAndWithOtherTerminalMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "scheduler_sigmas.safetensors");
  const GoldenFile golden(path);
  Ltx2ScheduleOptions no_stretch;
  no_stretch.stretch = false;
  AVTRAIN_EXPECT_CLOSE(ltx2_sigmas(30, no_stretch), golden.tensor("output.ltx2_nostretch.steps30.tokens4096"),
                       kAsReference, "ltx2_nostretch");
  Ltx2ScheduleOptions terminal;
  terminal.terminal = 0.05;
  AVTRAIN_EXPECT_CLOSE(ltx2_sigmas(30, terminal),
                       golden.tensor("output.ltx2_terminal0.05.steps30.tokens4096"), kAsReference,
                       "ltx2_terminal0.05");
}

TEST(SigmaScheduleGolden, LinearQuadraticMatchesReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "scheduler_sigmas.safetensors");
  const GoldenFile golden(path);
  for (const int64_t steps : {1, 8, 30}) {
    const auto key = "output.linear_quadratic.steps" + std::to_string(steps);
    AVTRAIN_EXPECT_CLOSE(linear_quadratic_sigmas(steps), golden.tensor(key), kAsReference, key);
  }
}

TEST(SigmaScheduleGolden, BetaMatchesReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "scheduler_sigmas.safetensors");
  const GoldenFile golden(path);
  for (const int64_t steps : {8, 30}) {
    const auto key = "output.beta.steps" + std::to_string(steps);
    AVTRAIN_EXPECT_CLOSE(beta_sigmas(steps), golden.tensor(key), kAsReference, key);
  }
}

TEST(SigmaScheduleGolden, DistilledConstantsMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "scheduler_sigmas.safetensors");
  const GoldenFile golden(path);
  AVTRAIN_EXPECT_CLOSE(distilled_stage1_sigmas(), golden.tensor("output.distilled_stage1"), kAsReference, "stage1");
  AVTRAIN_EXPECT_CLOSE(distilled_stage2_sigmas(), golden.tensor("output.distilled_stage2"), kAsReference, "stage2");
}

TEST(SigmaSchedule, Ltx2ValidationScheduleStartsAtOneEndsAtZeroAndReachesTerminal) {
  const auto sigmas = ltx2_sigmas(30);
  ASSERT_EQ(sigmas.numel(), 31);
  EXPECT_EQ(sigmas.scalar_type(), torch::kFloat32);
  // 1 within float32 rounding: the stretch computes 1 - (1 - sigma_0) / k (the reference's value too).
  EXPECT_NEAR(sigmas[0].item<float>(), 1.0f, 1e-7);
  EXPECT_NEAR(sigmas[29].item<float>(), 0.1f, 1e-6);
  EXPECT_EQ(sigmas[30].item<float>(), 0.0f);
  // trainer.md §5.5's test vector, to its printed precision.
  EXPECT_NEAR(sigmas[1].item<float>(), 0.994957, 1e-6);
  EXPECT_NEAR(sigmas[15].item<float>(), 0.869858, 1e-6);
  EXPECT_NEAR(sigmas[28].item<float>(), 0.26612, 1e-6);
  EXPECT_TRUE((sigmas.slice(0, 1) < sigmas.slice(0, 0, -1)).all().item<bool>()) << "not decreasing";
}

TEST(SigmaSchedule, Ltx2RefusesOneStepAndNamesIt) {
  try {
    ltx2_sigmas(1);
    FAIL() << "expected InvalidInput";
  } catch (const core::InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("steps=1"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace avtrain::sample
