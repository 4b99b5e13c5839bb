// The inputs and loss of one AV2AV training step (specs/trainer.md §2): positions against
// golden/reference_positions' trainer cases, reference tokens at timestep 0 without loss, determinism,
// and gradients that reach the LoRA adapters only.

#include "train/training_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "testing/golden.h"
#include "tiny_training.h"
#include "train/lora.h"

namespace avtrain::train {
namespace {

using avtrain::testing::GoldenFile;

::testing::AssertionResult bit_equal(const torch::Tensor& actual, const torch::Tensor& expected,
                                     const std::string& what) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << what << ": shape " << actual.sizes() << " vs " << expected.sizes();
  }
  if (torch::equal(actual, expected)) return ::testing::AssertionSuccess();
  return avtrain::testing::all_close(actual, expected, avtrain::testing::Tolerance::absolute(0), what);
}

// The trainer prepends the reference (§2.5), so its tokens come first in the built inputs.
TEST(TrainingStepGolden, VideoPositionsEqualTheTrainerCases) {
  AVTRAIN_REQUIRE_GOLDEN(path, "reference_positions.safetensors");
  const GoldenFile golden(path);
  const auto cases = nlohmann::json::parse(golden.metadata("video_cases"));
  ASSERT_EQ(cases.size(), 126u);
  auto generator = at::detail::createCPUGenerator(1);
  for (const auto& item : cases) {
    const auto name = item.get<std::string>();
    const auto p = golden.tensor("input." + name + ".params");
    const auto frames = static_cast<int64_t>(p[0].item<float>()),
               height = static_cast<int64_t>(p[1].item<float>()),
               width = static_cast<int64_t>(p[2].item<float>());
    const double fps = p[3].item<float>();
    const auto d = static_cast<int64_t>(p[4].item<float>()), s = static_cast<int64_t>(p[5].item<float>());
    const auto sample = tiny::tiny_sample(3, frames, height, width, d, s, 1, 1, fps);
    const TrainingStepOptions options{.spatial_factor = d, .temporal_factor = s};
    check_sample(sample, tiny::tiny_config(), options);
    const auto inputs = build_step_inputs(sample, options, generator, torch::kCPU);
    const auto expected_reference = golden.tensor("output." + name + ".ref_trainer");
    const auto expected_target = golden.tensor("output." + name + ".target");
    const int64_t n_ref = expected_reference.size(2), n_target = expected_target.size(2);
    ASSERT_EQ(inputs.video_reference_tokens, n_ref) << name;
    ASSERT_EQ(inputs.video.positions.size(2), n_ref + n_target) << name;
    EXPECT_TRUE(
        bit_equal(inputs.video.positions.narrow(2, 0, n_ref), expected_reference, name + ".ref_trainer"));
    EXPECT_TRUE(
        bit_equal(inputs.video.positions.narrow(2, n_ref, n_target), expected_target, name + ".target"));
  }
}

TEST(TrainingStepGolden, AudioPositionsEqualTheTrainerCases) {
  AVTRAIN_REQUIRE_GOLDEN(path, "reference_positions.safetensors");
  const GoldenFile golden(path);
  const auto cases = nlohmann::json::parse(golden.metadata("audio_cases"));
  ASSERT_EQ(cases.size(), 7u);
  auto generator = at::detail::createCPUGenerator(1);
  for (const auto& item : cases) {
    const auto name = item.get<std::string>();
    const auto p = golden.tensor("input." + name + ".params");
    const auto tokens = static_cast<int64_t>(p[0].item<float>()),
               reference = static_cast<int64_t>(p[1].item<float>());
    const auto sample = tiny::tiny_sample(3, 2, 2, 2, 1, 1, tokens, reference);
    const auto inputs = build_step_inputs(sample, {}, generator, torch::kCPU);
    ASSERT_EQ(inputs.audio_reference_tokens, reference) << name;
    EXPECT_TRUE(bit_equal(inputs.audio.positions.narrow(2, 0, reference),
                          golden.tensor("output." + name + ".audio_ref"), name + ".audio_ref"));
    EXPECT_TRUE(bit_equal(inputs.audio.positions.narrow(2, reference, tokens),
                          golden.tensor("output." + name + ".audio_target"), name + ".audio_target"));
  }
}

TEST(TrainingStep, ReferenceTokensAreCleanAtTimestepZeroAndOutsideTheLoss) {
  const auto sample = tiny::tiny_sample(5, 3, 2, 2, 2, 2);  // reference [8, 2, 1, 1]
  auto generator = at::detail::createCPUGenerator(9);
  const auto inputs =
      build_step_inputs(sample, {.spatial_factor = 2, .temporal_factor = 2}, generator, torch::kCPU);
  ASSERT_EQ(inputs.video_reference_tokens, 2);
  ASSERT_EQ(inputs.video.latent.sizes(), (std::vector<int64_t>{1, 2 + 12, 8}));
  ASSERT_EQ(inputs.audio.latent.sizes(), (std::vector<int64_t>{1, 6 + 6, 32}));
  // Reference tokens: the clean latent, timestep 0, no loss; target tokens: sigma, loss.
  EXPECT_TRUE(torch::equal(inputs.video.latent.narrow(1, 0, 2)[0],
                           sample.reference_video_latent.reshape({8, 2}).t()));
  EXPECT_TRUE(torch::equal(inputs.video.timesteps.narrow(1, 0, 2), torch::zeros({1, 2})));
  const float sigma = inputs.video.sigma.item<float>();
  EXPECT_GT(sigma, 0.0f);
  EXPECT_LE(sigma, 1.0f);
  EXPECT_TRUE(torch::equal(inputs.video.timesteps.narrow(1, 2, 12), torch::full({1, 12}, sigma)));
  EXPECT_EQ(inputs.video_loss_mask.sum().item<int64_t>(), 12);
  EXPECT_FALSE(inputs.video_loss_mask[0][1].item<bool>());
  EXPECT_TRUE(torch::equal(inputs.audio.timesteps.narrow(1, 0, 6), torch::zeros({1, 6})));
  EXPECT_EQ(inputs.audio_loss_mask.sum().item<int64_t>(), 6);
  // x_t = (1 - sigma) x0 + sigma noise and target = noise - x0 give x0 = x_t - sigma target.
  const auto x0 = inputs.video.latent.narrow(1, 2, 12) - sigma * inputs.video_target;
  EXPECT_TRUE(torch::allclose(x0[0], sample.video_latent.reshape({8, 12}).t(), 1e-5, 1e-5));
  // The streams draw independent sigmas (§2.3).
  EXPECT_NE(inputs.audio.sigma.item<float>(), sigma);
}

// The connector's output is all kept: no mask, so that the text attention may take the fused kernels
// without one; a stored mask still reaches the model, as [1, L].
TEST(TrainingStep, AnAbsentContextMaskStaysAbsentAndAGivenOneIsPassedOn) {
  auto sample = tiny::tiny_sample(5);
  auto generator = at::detail::createCPUGenerator(3);
  const auto plain = build_step_inputs(sample, {}, generator, torch::kCPU);
  EXPECT_FALSE(plain.video.context_mask.defined());
  EXPECT_FALSE(plain.audio.context_mask.defined());
  const int64_t length = sample.video_context.size(0);
  sample.video_context_mask = torch::ones({length}, torch::kInt64);
  sample.video_context_mask[length - 1] = 0;
  const auto masked = build_step_inputs(sample, {}, generator, torch::kCPU);
  ASSERT_TRUE(masked.video.context_mask.defined());
  EXPECT_TRUE(torch::equal(masked.video.context_mask, sample.video_context_mask.view({1, length})));
  EXPECT_FALSE(masked.audio.context_mask.defined());
}

TEST(TrainingStep, DrawsFollowTheSeed) {
  const auto sample = tiny::tiny_sample(5);
  auto a = at::detail::createCPUGenerator(4), b = at::detail::createCPUGenerator(4),
       c = at::detail::createCPUGenerator(5);
  const auto first = build_step_inputs(sample, {}, a, torch::kCPU);
  const auto second = build_step_inputs(sample, {}, b, torch::kCPU);
  const auto other = build_step_inputs(sample, {}, c, torch::kCPU);
  EXPECT_TRUE(torch::equal(first.video.latent, second.video.latent));
  EXPECT_TRUE(torch::equal(first.audio_target, second.audio_target));
  EXPECT_FALSE(torch::equal(first.video.latent, other.video.latent));
}

TEST(TrainingStep, RejectsAReferenceThatDoesNotMatchDAndS) {
  const auto sample = tiny::tiny_sample(5, 3, 2, 2, 1, 1);  // reference [8, 3, 2, 2]
  try {
    check_sample(sample, tiny::tiny_config(), {.spatial_factor = 2, .temporal_factor = 1});
    FAIL() << "expected core::InvalidInput";
  } catch (const core::InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("reference_video_latent"), std::string::npos) << error.what();
  }
  auto wrong_channels = tiny::tiny_sample(5);
  wrong_channels.audio_latent = torch::zeros({8, 6, 16});
  EXPECT_THROW(check_sample(wrong_channels, tiny::tiny_config(), {}), core::InvalidInput);
}

TEST(TrainingStep, GradientsReachOnlyTheAdaptersAndEveryTargetedModule) {
  auto model = tiny::tiny_model();
  for (auto& parameter : model->parameters()) parameter.set_requires_grad(false);
  auto lora = LoraSet::inject(*model, {.rank = 2, .alpha = 2});
  ASSERT_EQ(lora.adapters().size(), 2u * 6u * 4u);  // 2 blocks x 6 attention modules x q, k, v, out
  {
    // B starts at zero, which would leave A's gradient zero; a small B shows that both receive one.
    const torch::NoGradGuard no_grad;
    for (const auto& adapter : lora.adapters()) adapter.linear->lora_B.normal_(0.0, 0.1);
  }
  model->set_gradient_checkpointing(true);
  auto generator = at::detail::createCPUGenerator(2);
  const auto inputs = build_step_inputs(tiny::tiny_sample(1), {}, generator, torch::kCPU);
  const auto loss = training_loss(*model, inputs);
  EXPECT_TRUE(torch::allclose(loss.total, loss.video + loss.audio));
  loss.total.backward();
  for (const auto& adapter : lora.adapters()) {
    for (const auto& tensor : {adapter.linear->lora_A, adapter.linear->lora_B}) {
      ASSERT_TRUE(tensor.grad().defined()) << adapter.path;
      EXPECT_TRUE(torch::isfinite(tensor.grad()).all().item<bool>()) << adapter.path;
      EXPECT_GT(tensor.grad().abs().max().item<float>(), 0.0f) << adapter.path;
    }
  }
  for (const auto& parameter : model->named_parameters()) {
    EXPECT_FALSE(parameter.value().requires_grad()) << parameter.key();
    EXPECT_FALSE(parameter.value().grad().defined()) << parameter.key();
  }
}

}  // namespace
}  // namespace avtrain::train
