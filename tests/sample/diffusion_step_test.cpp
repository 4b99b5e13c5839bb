#include "sample/diffusion_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "core/error.h"
#include "sample/sigma_schedule.h"
#include "testing/golden.h"

namespace avtrain::sample {
namespace {

using testing::GoldenFile;
using testing::Tolerance;

// golden/README.md: step formulas are exact up to float32 rounding (bit-exact with LibTorch 1.13 on CPU).
const auto kAtol = Tolerance::absolute(1e-6);

class DiffusionStepGolden : public ::testing::Test {
 protected:
  void load(const std::filesystem::path& path) {
    golden_ = std::make_unique<GoldenFile>(path);
    sample = golden_->tensor("input.sample");
    denoised = golden_->tensor("input.denoised");
    uncond_denoised = golden_->tensor("input.uncond_denoised");
    noise = golden_->tensor("input.noise");
    sigmas = golden_->tensor("input.sigmas");
  }
  torch::Tensor expected(const std::string& key) const { return golden_->tensor(key); }

  std::unique_ptr<GoldenFile> golden_;
  torch::Tensor sample, denoised, uncond_denoised, noise, sigmas;
};

TEST_F(DiffusionStepGolden, StoredSigmasAreTheEightStepLtx2Schedule) {
  AVTRAIN_REQUIRE_GOLDEN(path, "diffusion_steps.safetensors");
  load(path);
  AVTRAIN_EXPECT_CLOSE(ltx2_sigmas(8), sigmas, Tolerance::absolute(0), "input.sigmas");
}

TEST_F(DiffusionStepGolden, EulerMatchesReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "diffusion_steps.safetensors");
  load(path);
  for (const int64_t step : {0, 3, 7}) {
    const auto key = "output.euler.step" + std::to_string(step);
    AVTRAIN_EXPECT_CLOSE(euler_step(sample, denoised, sigmas, step), expected(key), kAtol, key);
  }
}

TEST_F(DiffusionStepGolden, EulerAncestralMatchesReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "diffusion_steps.safetensors");
  load(path);
  for (const auto& [eta, name] : {std::pair{1.0, "1"}, std::pair{0.5, "0.5"}}) {
    for (const int64_t step : {0, 3, 7}) {
      const auto key = std::string("output.euler_ancestral_eta") + name + ".step" + std::to_string(step);
      AVTRAIN_EXPECT_CLOSE(euler_ancestral_step(sample, denoised, sigmas, step, eta, noise), expected(key),
                           kAtol, key);
    }
  }
}

TEST_F(DiffusionStepGolden, EulerCfgPlusPlusMatchesReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "diffusion_steps.safetensors");
  load(path);
  for (const int64_t step : {0, 3, 7}) {
    const auto key = "output.euler_cfgpp_eta1.step" + std::to_string(step);
    AVTRAIN_EXPECT_CLOSE(euler_cfgpp_step(sample, denoised, uncond_denoised, sigmas, step, 1.0, noise),
                         expected(key), kAtol, key);
  }
}

TEST_F(DiffusionStepGolden, Res2sMatchesReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "diffusion_steps.safetensors");
  load(path);
  for (const int64_t step : {0, 3, 7}) {
    const auto key = "output.res2s_eta0.5.step" + std::to_string(step);
    AVTRAIN_EXPECT_CLOSE(res2s_step(sample, denoised, sigmas, step, noise, 0.5), expected(key), kAtol, key);
  }
}

TEST_F(DiffusionStepGolden, VelocityDenoisedAndConditioningBlendMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "diffusion_steps.safetensors");
  load(path);
  AVTRAIN_EXPECT_CLOSE(to_velocity(sample, 0.6, denoised), expected("output.to_velocity_sigma0.6"), kAtol,
                       "to_velocity_sigma0.6");
  AVTRAIN_EXPECT_CLOSE(to_denoised(sample, denoised, golden_->tensor("input.per_token_timesteps")),
                       expected("output.to_denoised_per_token"), kAtol, "to_denoised_per_token");
  AVTRAIN_EXPECT_CLOSE(post_process_latent(denoised, golden_->tensor("input.denoise_mask"),
                                           golden_->tensor("input.clean_latent")),
                       expected("output.post_process_latent"), kAtol, "post_process_latent");
}

TEST(DiffusionStep, EulerLastStepLandsOnTheDenoisedPrediction) {
  const auto sample = torch::randn({1, 6, 4});
  const auto denoised = torch::randn({1, 6, 4});
  const auto sigmas = torch::tensor({0.5f, 0.0f});
  EXPECT_TRUE(torch::allclose(euler_step(sample, denoised, sigmas, 0), denoised, 0, 1e-6));
}

TEST(DiffusionStep, ConditioningTokensStayCleanThroughAnEulerStep) {
  // trainer.md §5.6: with x = clean and den = clean on mask-0 tokens, v = 0 there.
  const auto clean = torch::randn({1, 4, 2});
  const auto mask = torch::tensor({1.0f, 1.0f, 0.0f, 0.0f}).view({1, 4, 1});
  const auto x = torch::where(mask > 0, torch::randn({1, 4, 2}), clean);
  const auto den = post_process_latent(torch::randn({1, 4, 2}), mask, clean);
  const auto next = euler_step(x, den, ltx2_sigmas(4), 1);
  EXPECT_TRUE(torch::equal(next.slice(1, 2), clean.slice(1, 2)));
}

TEST(DiffusionStep, VelocityAtSigmaZeroIsRefused) {
  const auto x = torch::zeros({1, 2, 2});
  EXPECT_THROW(to_velocity(x, 0.0, x), core::InvalidInput);
}

}  // namespace
}  // namespace avtrain::sample
