// The transformer against golden/transformer_av_tiny (README "transformer_av_tiny"): every output and the
// debug intermediates in float32, plus the bf16 error against the fp32 reference.

#include "models/transformer/transformer_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "testing/golden.h"

namespace avtrain::models {
namespace {

using testing::GoldenFile;
using testing::Tolerance;

constexpr const char* kFile = "transformer_av_tiny.safetensors";

// README "Observed tolerances": 1e-5 x absmax when the RoPE angles are formed in the reference's fp32 order.
Tolerance golden_tolerance(const torch::Tensor& expected) { return Tolerance::of_absmax(1e-5, expected); }

Modality read_modality(const GoldenFile& golden, const std::string& stream) {
  const auto prefix = "input." + stream + ".";
  Modality m;
  m.latent = golden.tensor(prefix + "latent");
  m.sigma = golden.tensor(prefix + "sigma");
  m.timesteps = golden.tensor(prefix + "timesteps");
  m.positions = golden.tensor(prefix + "positions");
  m.context = golden.tensor(prefix + "context");
  m.context_mask = golden.tensor(prefix + "context_mask");
  if (golden.has(prefix + "attention_mask")) m.attention_mask = golden.tensor(prefix + "attention_mask");
  return m;
}

class TransformerGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    AVTRAIN_REQUIRE_GOLDEN(path, kFile);
    golden_ = std::make_unique<GoldenFile>(path);
    set_ = std::make_shared<core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
    video_ = read_modality(*golden_, "video");
    audio_ = read_modality(*golden_, "audio");
  }
  TransformerModel load(torch::ScalarType dtype) const {
    return load_transformer(set_, torch::TensorOptions().dtype(dtype));
  }
  void expect_output(const torch::Tensor& actual, const std::string& name) const {
    const auto expected = golden_->tensor(name);
    AVTRAIN_EXPECT_CLOSE(actual.to(torch::kFloat32), expected, golden_tolerance(expected), name);
  }

  std::unique_ptr<GoldenFile> golden_;
  std::shared_ptr<core::SafetensorsSet> set_;
  Modality video_, audio_;
};

TEST_F(TransformerGolden, MainPassMatchesVelocitiesAndEveryDebugIntermediate) {
  auto model = load(torch::kFloat32);
  const torch::NoGradGuard no_grad;
  ForwardTrace trace;
  const auto out = model->forward(video_, audio_, {}, &trace);
  expect_output(out.video, "output.video");
  expect_output(out.audio, "output.audio");

  const std::vector<std::string> intermediates = {
      "x_proj", "timestep_adaln", "embedded_timestep", "prompt_timestep", "pe_cos", "pe_sin", "cross_pe_cos",
      "cross_pe_sin", "cross_scale_shift_timestep", "cross_gate_timestep", "context_mask_additive"};
  int compared = 0;
  for (const std::string stream : {"video", "audio"}) {
    for (const auto& name : intermediates) {
      const auto key = stream + "." + name;
      ASSERT_TRUE(trace.tensors.count(key)) << key << " was not recorded";
      expect_output(trace.tensors.at(key), "debug." + key);
      ++compared;
    }
  }
  for (const auto& key : {"video.timestep_sinusoid", "video.self_attention_bias", "block0.video_x", "block0.audio_x",
                          "block1.video_x", "block1.audio_x"}) {
    ASSERT_TRUE(trace.tensors.count(key)) << key << " was not recorded";
    expect_output(trace.tensors.at(key), std::string("debug.") + key);
    ++compared;
  }
  EXPECT_EQ(compared, 28);
}

TEST_F(TransformerGolden, WithoutContextMaskMatches) {
  auto model = load(torch::kFloat32);
  const torch::NoGradGuard no_grad;
  video_.context_mask = torch::Tensor();
  audio_.context_mask = torch::Tensor();
  const auto out = model->forward(video_, audio_);
  expect_output(out.video, "output.video_context_mask_none");
  expect_output(out.audio, "output.audio_context_mask_none");
}

TEST_F(TransformerGolden, PerSamplePerturbationsMatch) {
  auto model = load(torch::kFloat32);
  const torch::NoGradGuard no_grad;
  const auto keep = golden_->tensor("input.perturbation.keep_mask");
  const auto perturbations = Perturbations::from_keep_mask(keep);
  ASSERT_TRUE(torch::equal(perturbations.keep_mask(keep.size(1), keep.size(2)), keep));
  const auto out = model->forward(video_, audio_, perturbations);
  expect_output(out.video, "output.video_perturbed");
  expect_output(out.audio, "output.audio_perturbed");
}

TEST_F(TransformerGolden, DenoisedFormMatches) {
  auto model = load(torch::kFloat32);
  const torch::NoGradGuard no_grad;
  const auto out = model->forward(video_, audio_);
  expect_output(velocity_to_denoised(video_.latent, out.video, video_.timesteps), "output.video_x0");
  expect_output(velocity_to_denoised(audio_.latent, out.audio, audio_.timesteps), "output.audio_x0");
}

// Not a parity test (the reference data are fp32): the bf16 model's error is reported and bounded loosely.
TEST_F(TransformerGolden, Bfloat16ForwardErrorAgainstFloat32IsReported) {
  auto model = load(torch::kBFloat16);
  const torch::NoGradGuard no_grad;
  const auto out = model->forward(video_, audio_);
  for (const auto& [actual, name] : {std::pair{out.video, std::string("output.video")},
                                     std::pair{out.audio, std::string("output.audio")}}) {
    const auto expected = golden_->tensor(name);
    const auto error = (actual.to(torch::kFloat32) - expected).abs();
    const double absmax = expected.abs().max().item<double>();
    const double max_rel = error.max().item<double>() / absmax;
    const double rms_rel = error.square().mean().sqrt().item<double>() / absmax;
    const double cosine = torch::cosine_similarity(actual.to(torch::kFloat32).flatten(), expected.flatten(), 0)
                              .item<double>();
    std::cout << "bf16 vs fp32 " << name << ": max|err|/absmax " << max_rel << ", rms/absmax " << rms_rel
              << ", cosine " << cosine << "\n";
    RecordProperty(name + "_bf16_max_rel", std::to_string(max_rel));
    EXPECT_LT(max_rel, 0.1) << name;
    EXPECT_GT(cosine, 0.999) << name;
  }
}

}  // namespace
}  // namespace avtrain::models
