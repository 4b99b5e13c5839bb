#include "sample/guidance_passes.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sample/sampling_settings.h"

namespace avtrain::sample {
namespace {

std::vector<GuidancePass> all_passes() {
  return {GuidancePass::cond, GuidancePass::uncond_text, GuidancePass::perturbed,
          GuidancePass::isolated_modality};
}

TEST(GuidancePlan, DefaultsRunFourPassesInReferenceOrder) {
  const SamplingSettings settings;
  const GuidancePlan plan(MultiModalGuider(settings.video_guider(48)),
                          MultiModalGuider(settings.audio_guider(48)));
  EXPECT_EQ(plan.passes(), all_passes());
  EXPECT_TRUE(plan.perturbation(GuidancePass::cond).empty());
  EXPECT_TRUE(plan.perturbation(GuidancePass::uncond_text).empty());
  const auto stg = plan.perturbation(GuidancePass::perturbed);
  EXPECT_EQ(stg.skip_video_self_attn_blocks, std::vector<int64_t>{28});
  EXPECT_EQ(stg.skip_audio_self_attn_blocks, std::vector<int64_t>{28});
  EXPECT_FALSE(stg.skip_cross_modal_attn);
  const auto isolated = plan.perturbation(GuidancePass::isolated_modality);
  EXPECT_TRUE(isolated.skip_cross_modal_attn);
  EXPECT_TRUE(isolated.skip_video_self_attn_blocks.empty());
}

TEST(GuidancePlan, PassesRunOnlyWhenAGuiderNeedsThem) {
  GuiderParams video;  // positive only
  GuiderParams audio;
  EXPECT_EQ(GuidancePlan(MultiModalGuider(video), MultiModalGuider(audio)).passes(),
            std::vector<GuidancePass>{GuidancePass::cond});
  // HQ preset: no STG.
  video = {3.0, 0.0, {}, 0.45, 3.0};
  audio = {7.0, 0.0, {}, 1.0, 3.0};
  EXPECT_EQ(GuidancePlan(MultiModalGuider(video), MultiModalGuider(audio)).passes(),
            (std::vector<GuidancePass>{GuidancePass::cond, GuidancePass::uncond_text,
                                       GuidancePass::isolated_modality}));
  // STG on video only: the audio self-attention is left alone in the perturbed pass.
  video.stg_scale = 1.0;
  video.stg_blocks = {5};
  const GuidancePlan plan{MultiModalGuider(video), MultiModalGuider(audio)};
  EXPECT_TRUE(plan.runs(GuidancePass::perturbed));
  EXPECT_EQ(plan.perturbation(GuidancePass::perturbed).skip_video_self_attn_blocks, std::vector<int64_t>{5});
  EXPECT_TRUE(plan.perturbation(GuidancePass::perturbed).skip_audio_self_attn_blocks.empty());
}

TEST(GuidancePlan, BatchesPassMajorAndSplitsBack) {
  const SamplingSettings settings;
  const GuidancePlan plan(MultiModalGuider(settings.video_guider(2)),
                          MultiModalGuider(settings.audio_guider(2)));
  const auto latent = torch::arange(2 * 3).view({2, 3, 1}).to(torch::kFloat32);  // B = 2
  const auto repeated = plan.repeat(latent);
  ASSERT_EQ(repeated.size(0), 8);
  EXPECT_TRUE(torch::equal(repeated.slice(0, 6, 8), latent));

  const auto positive = torch::ones({2, 4, 3});
  const auto negative = torch::full({2, 4, 3}, -1.0);
  const auto contexts = plan.contexts(positive, negative);
  ASSERT_EQ(contexts.size(0), 8);
  EXPECT_TRUE(torch::equal(contexts.slice(0, 0, 2), positive));
  EXPECT_TRUE(torch::equal(contexts.slice(0, 2, 4), negative));  // uncond_text is the second pass
  EXPECT_TRUE(torch::equal(contexts.slice(0, 4, 8), torch::cat({positive, positive})));

  const auto perturbations = plan.sample_perturbations(2);
  ASSERT_EQ(perturbations.size(), 8u);
  EXPECT_TRUE(perturbations[1].empty());
  EXPECT_EQ(perturbations[4].skip_video_self_attn_blocks, std::vector<int64_t>{1});
  EXPECT_EQ(perturbations[5].skip_audio_self_attn_blocks, std::vector<int64_t>{1});
  EXPECT_TRUE(perturbations[7].skip_cross_modal_attn);

  const auto outputs = plan.split(torch::arange(8).view({8, 1}));
  EXPECT_EQ(outputs.cond[1].item<int64_t>(), 1);
  EXPECT_EQ(outputs.uncond_text[0].item<int64_t>(), 2);
  EXPECT_EQ(outputs.perturbed[0].item<int64_t>(), 4);
  EXPECT_EQ(outputs.isolated_modality[1].item<int64_t>(), 7);
}

TEST(GuidedDenoise, CombinesEachModalityFromOneBatchedCall) {
  const SamplingSettings settings;
  const MultiModalGuider video(settings.video_guider(2));
  const MultiModalGuider audio(settings.audio_guider(2));
  const int64_t batch = 1;
  const auto video_latent = torch::randn({batch, 6, 4});
  const auto audio_latent = torch::randn({batch, 3, 2});
  PromptContexts contexts{torch::randn({batch, 5, 8}), torch::randn({batch, 5, 8}),
                          torch::randn({batch, 5, 8}), torch::randn({batch, 5, 8})};
  // A stand-in transformer whose output depends on the context and the perturbation of each sample.
  auto fake = [&](const torch::Tensor& latent, const torch::Tensor& context,
                  const std::vector<PassPerturbation>& perturbations, bool is_video) {
    std::vector<float> offsets;
    for (const auto& p : perturbations) {
      const auto& stg = is_video ? p.skip_video_self_attn_blocks : p.skip_audio_self_attn_blocks;
      offsets.push_back((stg.empty() ? 0.0f : 0.3f) + (p.skip_cross_modal_attn ? -0.2f : 0.0f));
    }
    return latent * context.mean({1, 2}, true) + torch::tensor(offsets).view({-1, 1, 1});
  };
  int calls = 0;
  const auto denoiser = [&](const GuidancePlan& plan, const torch::Tensor& video_context,
                            const torch::Tensor& audio_context) {
    ++calls;
    const auto perturbations = plan.sample_perturbations(batch);
    return std::make_pair(fake(plan.repeat(video_latent), video_context, perturbations, true),
                          fake(plan.repeat(audio_latent), audio_context, perturbations, false));
  };
  const auto [video_x0, audio_x0] = guided_denoise(video, audio, contexts, denoiser);
  EXPECT_EQ(calls, 1);

  // The same passes run one at a time.
  const auto single = [&](const torch::Tensor& latent, const torch::Tensor& context, GuidancePass pass,
                          bool is_video) {
    const GuidancePlan plan(video, audio);
    return fake(latent, context, {plan.perturbation(pass)}, is_video);
  };
  const auto expected_video =
      video.calculate(single(video_latent, contexts.video_positive, GuidancePass::cond, true),
                      single(video_latent, contexts.video_negative, GuidancePass::uncond_text, true),
                      single(video_latent, contexts.video_positive, GuidancePass::perturbed, true),
                      single(video_latent, contexts.video_positive, GuidancePass::isolated_modality, true));
  const auto expected_audio =
      audio.calculate(single(audio_latent, contexts.audio_positive, GuidancePass::cond, false),
                      single(audio_latent, contexts.audio_negative, GuidancePass::uncond_text, false),
                      single(audio_latent, contexts.audio_positive, GuidancePass::perturbed, false),
                      single(audio_latent, contexts.audio_positive, GuidancePass::isolated_modality, false));
  EXPECT_TRUE(torch::allclose(video_x0, expected_video, 0, 1e-6));
  EXPECT_TRUE(torch::allclose(audio_x0, expected_audio, 0, 1e-6));
}

}  // namespace
}  // namespace avtrain::sample
