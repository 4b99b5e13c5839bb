#include "train/optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "train/lr_schedule.h"

namespace avtrain::train {
namespace {

TEST(ClipGradNorm, ScalesGradientsAboveTheLimitToIt) {
  auto a = torch::zeros({2}, torch::requires_grad());
  auto b = torch::zeros({1}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  const double norm = clip_grad_norm({a, b}, 1.0);
  EXPECT_NEAR(norm, 5.0, 1e-6);
  const auto clipped = torch::cat({a.grad(), b.grad()}).norm().item<double>();
  EXPECT_NEAR(clipped, 1.0, 1e-5);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 / (5.0 + 1e-6), 1e-6);
}

TEST(ClipGradNorm, LeavesGradientsUnderTheLimitAlone) {
  auto a = torch::zeros({2}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({0.3f, 0.4f});
  EXPECT_NEAR(clip_grad_norm({a}, 1.0), 0.5, 1e-6);
  EXPECT_TRUE(torch::equal(a.grad(), torch::tensor({0.3f, 0.4f})));
}

TEST(AdamW, UsesDecision22SettingsAndDecoupledWeightDecay) {
  const AdamWSettings settings;
  EXPECT_EQ(settings.weight_decay, 0.01);
  EXPECT_EQ(settings.max_grad_norm, 1.0);
  auto w = torch::full({1}, 2.0, torch::requires_grad());
  auto optimizer = make_adamw({w}, settings);
  w.mutable_grad() = torch::full({1}, 0.5);
  adamw_step(*optimizer);
  // First AdamW step: w (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps), m_hat = g, v_hat = g^2.
  const double lr = 2e-4;
  const double expected = 2.0 * (1 - lr * 0.01) - lr * 0.5 / (0.5 + 1e-8);
  EXPECT_NEAR(w.item<double>(), expected, 1e-7);
}

// The multi-tensor step is AdamW::step bit for bit on the CPU, on the optimizer's own state, over steps where
// a parameter has no gradient (it is skipped and its step count falls behind) and with two learning rates.
TEST(AdamW, TheMultiTensorStepIsAdamWStepBitForBit) {
  torch::manual_seed(4);
  std::vector<torch::Tensor> ours, theirs;
  for (const auto& shape : {std::vector<int64_t>{8, 16}, {16, 8}, {5}}) {
    ours.push_back(torch::randn(shape).requires_grad_());
    theirs.push_back(ours.back().detach().clone().requires_grad_());
  }
  auto ours_optimizer = make_adamw(ours, {}), theirs_optimizer = make_adamw(theirs, {});
  for (int step = 1; step <= 4; ++step) {
    for (size_t i = 0; i < ours.size(); ++i) {
      const bool skipped = step == 2 && i == 1;
      // Gradient scales down to eps's (1e-8), where every term of the update shows in float32.
      const auto grad = torch::randn(ours[i].sizes()) * std::pow(1e-4, static_cast<double>(i));
      ours[i].mutable_grad() = skipped ? torch::Tensor() : grad.clone();
      theirs[i].mutable_grad() = skipped ? torch::Tensor() : grad.clone();
    }
    const double lr = step <= 2 ? 2e-4 : 1e-3;
    set_learning_rate(*ours_optimizer, lr);
    set_learning_rate(*theirs_optimizer, lr);
    adamw_step(*ours_optimizer);
    theirs_optimizer->step();
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::equal(ours[i], theirs[i])) << "step " << step << ", tensor " << i;
    }
  }
  for (size_t i = 0; i < ours.size(); ++i) {
    const auto& mine = static_cast<const torch::optim::AdamWParamState&>(
        *ours_optimizer->state().at(optimizer_state_key(ours[i])));
    const auto& reference = static_cast<const torch::optim::AdamWParamState&>(
        *theirs_optimizer->state().at(optimizer_state_key(theirs[i])));
    EXPECT_EQ(mine.step(), i == 1 ? 3 : 4);
    EXPECT_EQ(mine.step(), reference.step());
    EXPECT_TRUE(torch::equal(mine.exp_avg(), reference.exp_avg())) << i;
    EXPECT_TRUE(torch::equal(mine.exp_avg_sq(), reference.exp_avg_sq())) << i;
  }
  clear_gradients(*ours_optimizer);
  for (const auto& p : ours) EXPECT_FALSE(p.grad().defined());
}

TEST(AdamW, LearningRateFollowsTheSchedule) {
  auto w = torch::zeros({1}, torch::requires_grad());
  auto optimizer = make_adamw({w}, {});
  const LinearLrSchedule schedule{2e-4, 100};
  set_learning_rate(*optimizer, schedule.at_step(101));
  EXPECT_DOUBLE_EQ(optimizer->param_groups()[0].options().get_lr(), 2e-5);
}

}  // namespace
}  // namespace avtrain::train
