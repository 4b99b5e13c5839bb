#include "train/optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

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
  optimizer->step();
  // First AdamW step: w (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps), m_hat = g, v_hat = g^2.
  const double lr = 2e-4;
  const double expected = 2.0 * (1 - lr * 0.01) - lr * 0.5 / (0.5 + 1e-8);
  EXPECT_NEAR(w.item<double>(), expected, 1e-7);
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
