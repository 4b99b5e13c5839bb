#include "sample/guidance.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "testing/golden.h"

namespace avtrain::sample {
namespace {

using testing::GoldenFile;
using testing::Tolerance;

// golden/README.md: guider formulas are exact up to float32 rounding (bit-exact with LibTorch 1.13 on CPU).
const auto kAtol = Tolerance::absolute(1e-6);

GuiderParams params_from_json(const nlohmann::json& json) {
  GuiderParams params;
  params.cfg_scale = json.at("cfg_scale").get<double>();
  params.stg_scale = json.at("stg_scale").get<double>();
  params.stg_blocks = json.at("stg_blocks").get<std::vector<int64_t>>();
  params.rescale_scale = json.at("rescale_scale").get<double>();
  params.modality_scale = json.at("modality_scale").get<double>();
  return params;
}

TEST(GuidanceGolden, MultiModalGuiderMatchesReferenceForEveryParameterSet) {
  AVTRAIN_REQUIRE_GOLDEN(path, "guider_combination.safetensors");
  const GoldenFile golden(path);
  const auto cond = golden.tensor("input.cond");
  const auto uncond_text = golden.tensor("input.uncond_text");
  const auto uncond_perturbed = golden.tensor("input.uncond_perturbed");
  const auto uncond_modality = golden.tensor("input.uncond_modality");
  const auto all_params = nlohmann::json::parse(golden.metadata("guider_params"));
  ASSERT_EQ(all_params.size(), 6u);
  for (const auto& [name, json] : all_params.items()) {
    const MultiModalGuider guider(params_from_json(json));
    // positive_only is called with python 0.0 for the passes that do not run.
    const auto pred = name == "positive_only"
                          ? guider.calculate(cond, {}, {}, {})
                          : guider.calculate(cond, uncond_text, uncond_perturbed, uncond_modality);
    AVTRAIN_EXPECT_CLOSE(pred, golden.tensor("output.multimodal." + name), kAtol, name);
  }
}

TEST(GuidanceGolden, Ltx23VideoBeforeRescaleMatchesReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "guider_combination.safetensors");
  const GoldenFile golden(path);
  auto params = params_from_json(nlohmann::json::parse(golden.metadata("guider_params")).at("ltx23_video"));
  params.rescale_scale = 0;
  const auto pred = MultiModalGuider(params).calculate(
      golden.tensor("input.cond"), golden.tensor("input.uncond_text"),
      golden.tensor("input.uncond_perturbed"), golden.tensor("input.uncond_modality"));
  AVTRAIN_EXPECT_CLOSE(pred, golden.tensor("debug.multimodal.ltx23_video.pred_before_rescale"), kAtol,
                       "pred_before_rescale");
  const auto cond = golden.tensor("input.cond");
  const auto factor = cond.std() / pred.std() * 0.7 + (1 - 0.7);
  AVTRAIN_EXPECT_CLOSE(factor, golden.tensor("debug.multimodal.ltx23_video.rescale_factor"), kAtol,
                       "rescale_factor");
}

TEST(GuidanceGolden, SingleGuiderDeltasMatchReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "guider_combination.safetensors");
  const GoldenFile golden(path);
  const auto cond = golden.tensor("input.cond");
  AVTRAIN_EXPECT_CLOSE(cfg_delta(3, cond, golden.tensor("input.uncond_text")),
                       golden.tensor("output.cfg_delta_s3"), kAtol, "cfg_delta_s3");
  AVTRAIN_EXPECT_CLOSE(stg_delta(1, cond, golden.tensor("input.uncond_perturbed")),
                       golden.tensor("output.stg_delta_s1"), kAtol, "stg_delta_s1");
  AVTRAIN_EXPECT_CLOSE(projection_coef(cond, golden.tensor("input.uncond_text")),
                       golden.tensor("output.projection_coef_cond_on_uncond"), kAtol, "projection_coef");
}

TEST(GuidanceGolden, CfgStarAndApgDeltasMatchReferenceOnBatchOneLatents) {
  AVTRAIN_REQUIRE_GOLDEN(path, "guider_combination.safetensors");
  const GoldenFile golden(path);
  const auto cond = golden.tensor("input.apg.cond");
  const auto uncond = golden.tensor("input.apg.uncond");
  AVTRAIN_EXPECT_CLOSE(cfg_star_delta(3, cond, uncond), golden.tensor("output.cfg_star_delta_s3"), kAtol,
                       "cfg_star_delta_s3");
  AVTRAIN_EXPECT_CLOSE(apg_delta(3, 0.5, 2, cond, uncond), golden.tensor("output.apg_delta_s3_eta0.5_thr2"),
                       kAtol, "apg_delta_s3_eta0.5_thr2");
  AVTRAIN_EXPECT_CLOSE(apg_delta(3, 1, 0, cond, uncond), golden.tensor("output.apg_delta_s3_eta1_thr0"),
                       kAtol, "apg_delta_s3_eta1_thr0");
  // One stateful instance, called twice (metadata legacy_apg).
  LegacyApgGuider legacy(/*scale=*/2.0, /*eta=*/0.7, /*norm_threshold=*/5.0, /*momentum=*/0.5);
  AVTRAIN_EXPECT_CLOSE(legacy.delta(cond, uncond), golden.tensor("output.legacy_apg_call1"), kAtol,
                       "legacy call1");
  AVTRAIN_EXPECT_CLOSE(legacy.delta(uncond, cond), golden.tensor("output.legacy_apg_call2"), kAtol,
                       "legacy call2");
}

TEST(Guidance, PositiveOnlyGuiderReturnsCondAndRunsNoExtraPass) {
  const MultiModalGuider guider({});
  const auto cond = torch::randn({1, 5, 3});
  EXPECT_TRUE(torch::equal(guider.calculate(cond, {}, {}, {}), cond));
  EXPECT_FALSE(guider.needs_uncond_text());
  EXPECT_FALSE(guider.needs_perturbed());
  EXPECT_FALSE(guider.needs_isolated_modality());
}

TEST(Guidance, RescaleBringsTheStdBackTowardsCond) {
  const auto cond = torch::randn({1, 64, 4});
  const auto uncond = cond + torch::randn({1, 64, 4});
  GuiderParams params;
  params.cfg_scale = 5;
  params.rescale_scale = 1;  // full rescale: std(pred) == std(cond)
  const auto pred = MultiModalGuider(params).calculate(cond, uncond, {}, {});
  EXPECT_NEAR(pred.std().item<double>(), cond.std().item<double>(), 1e-5);
}

TEST(Guidance, ResultKeepsTheDtypeOfCond) {
  const auto cond = torch::randn({1, 8, 4}).to(torch::kBFloat16);
  GuiderParams params;
  params.cfg_scale = 3;
  params.rescale_scale = 0.7;
  EXPECT_EQ(MultiModalGuider(params).calculate(cond, torch::zeros_like(cond), {}, {}).scalar_type(),
            torch::kBFloat16);
}

}  // namespace
}  // namespace avtrain::sample
