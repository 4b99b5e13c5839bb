#include "train/flow_matching.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "testing/golden.h"

namespace avtrain::train {
namespace {

using testing::GoldenFile;
using testing::Tolerance;

TEST(FlowMatchingGolden, NoisyInputAndVelocityTargetMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "timestep_sampler.safetensors");
  const GoldenFile golden(path);
  const auto x0 = golden.tensor("input.fm.x0");
  const auto noise = golden.tensor("input.fm.noise");
  const auto sigma = golden.tensor("input.fm.sigma");
  AVTRAIN_EXPECT_CLOSE(noisy_latent(x0, noise, sigma), golden.tensor("output.fm.noisy"),
                       Tolerance::absolute(1e-6), "fm.noisy");
  AVTRAIN_EXPECT_CLOSE(velocity_target(x0, noise), golden.tensor("output.fm.velocity_target"),
                       Tolerance::absolute(1e-6), "fm.velocity_target");
}

TEST(FlowMatching, NoisyLatentIsX0AtSigmaZeroAndNoiseAtOne) {
  const auto x0 = torch::randn({2, 3, 4});
  const auto noise = torch::randn({2, 3, 4});
  const auto x_t = noisy_latent(x0, noise, torch::tensor({0.0f, 1.0f}));
  EXPECT_TRUE(torch::equal(x_t[0], x0[0]));
  EXPECT_TRUE(torch::equal(x_t[1], noise[1]));
}

TEST(FlowMatching, BFloat16LatentsArePromotedByTheFloatSigma) {
  const auto x0 = torch::randn({1, 3, 4}).to(torch::kBFloat16);
  const auto noise = torch::randn({1, 3, 4}).to(torch::kBFloat16);
  EXPECT_EQ(noisy_latent(x0, noise, torch::tensor({0.5f})).scalar_type(), torch::kFloat32);
  EXPECT_EQ(velocity_target(x0, noise).scalar_type(), torch::kBFloat16);
}

TEST(FlowMatching, TokenTimestepsRepeatEachSamplesSigma) {
  const auto timesteps = token_timesteps(torch::tensor({0.25f, 0.75f}), 3);
  EXPECT_TRUE(torch::equal(timesteps, torch::tensor({{0.25f, 0.25f, 0.25f}, {0.75f, 0.75f, 0.75f}})));
}

TEST(MaskedMse, IsThePlainMeanOverTargetTokensAndChannels) {
  const auto pred = torch::randn({2, 5, 3});
  const auto target = torch::randn({2, 5, 3});
  const auto loss = masked_mse(pred, target, torch::ones({2, 5}, torch::kBool));
  EXPECT_TRUE(torch::allclose(loss, (pred - target).pow(2).mean({1, 2}), 1e-6, 1e-7));
}

TEST(MaskedMse, IgnoresPrependedReferenceTokens) {
  // trainer.md §2.5/§2.7: [reference | target]; the reference carries no loss.
  const int64_t reference_tokens = 4, target_tokens = 6;
  const auto target = torch::randn({1, target_tokens, 3});
  const auto pred_target = torch::randn({1, target_tokens, 3});
  const auto expected = (pred_target - target).pow(2).mean({1, 2});
  const auto pred = torch::cat({torch::full({1, reference_tokens, 3}, 1e3), pred_target}, 1);
  auto mask = torch::ones({1, reference_tokens + target_tokens}, torch::kBool);
  mask.slice(1, 0, reference_tokens).fill_(false);
  EXPECT_TRUE(torch::allclose(masked_mse(pred, target, mask), expected, 1e-6, 1e-7));
  // A target-length mask gives the same.
  EXPECT_TRUE(torch::allclose(masked_mse(pred, target, torch::ones({1, target_tokens}, torch::kBool)),
                              expected, 1e-6, 1e-7));
}

TEST(MaskedMse, AveragesOnlyOverMaskedTokens) {
  const auto target = torch::zeros({1, 4, 2});
  const auto pred = torch::tensor({1.0f, 1.0f, 3.0f, 3.0f, 100.0f, 100.0f, 100.0f, 100.0f}).view({1, 4, 2});
  const auto mask = torch::tensor({true, true, false, false}).view({1, 4});
  EXPECT_NEAR(masked_mse(pred, target, mask).item<double>(), (1.0 + 9.0) / 2, 1e-6);
}

}  // namespace
}  // namespace avtrain::train
