// Target and IC-LoRA reference positions against golden/reference_positions (126 video + 7 audio cases),
// bit-exact on the CPU (README "reference_positions").

#include "models/transformer/positions.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>

#include "testing/golden.h"

namespace avtrain::models {
namespace {

using testing::GoldenFile;

::testing::AssertionResult bit_equal(const torch::Tensor& actual, const torch::Tensor& expected,
                                     const std::string& what) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << what << ": shape " << actual.sizes() << " vs " << expected.sizes();
  }
  if (torch::equal(actual, expected)) return ::testing::AssertionSuccess();
  return testing::all_close(actual, expected, testing::Tolerance::absolute(0), what);
}

TEST(ReferencePositionsGolden, EveryVideoCaseMatchesBitExactly) {
  AVTRAIN_REQUIRE_GOLDEN(path, "reference_positions.safetensors");
  const GoldenFile golden(path);
  const auto cases = nlohmann::json::parse(golden.metadata("video_cases"));
  ASSERT_EQ(cases.size(), 126u);
  for (const auto& item : cases) {
    const auto name = item.get<std::string>();
    const auto p = golden.tensor("input." + name + ".params");
    const auto frames = static_cast<int64_t>(p[0].item<float>()), height = static_cast<int64_t>(p[1].item<float>()),
               width = static_cast<int64_t>(p[2].item<float>());
    const double fps = p[3].item<float>();
    const auto d = static_cast<int64_t>(p[4].item<float>()), s = static_cast<int64_t>(p[5].item<float>());
    EXPECT_TRUE(bit_equal(video_positions(frames, height, width, fps), golden.tensor("output." + name + ".target"),
                          name + ".target"));
    const auto reference = reference_video_positions((frames - 1) / s + 1, height / d, width / d, fps, d, s);
    EXPECT_TRUE(bit_equal(reference, golden.tensor("output." + name + ".ref_inference"), name + ".ref_inference"));
    EXPECT_TRUE(bit_equal(reference, golden.tensor("output." + name + ".ref_trainer"), name + ".ref_trainer"));
  }
}

TEST(ReferencePositionsGolden, EveryAudioCaseMatchesBitExactly) {
  AVTRAIN_REQUIRE_GOLDEN(path, "reference_positions.safetensors");
  const GoldenFile golden(path);
  const auto cases = nlohmann::json::parse(golden.metadata("audio_cases"));
  ASSERT_EQ(cases.size(), 7u);
  for (const auto& item : cases) {
    const auto name = item.get<std::string>();
    const auto p = golden.tensor("input." + name + ".params");
    const auto tokens = static_cast<int64_t>(p[0].item<float>()), reference = static_cast<int64_t>(p[1].item<float>());
    EXPECT_TRUE(bit_equal(audio_positions(tokens), golden.tensor("output." + name + ".audio_target"), name));
    EXPECT_TRUE(bit_equal(audio_positions(reference), golden.tensor("output." + name + ".audio_ref"), name));
  }
}

TEST(Positions, HandChecksOfTransformerSpecSection10) {
  // F5_H2W2_fps24_d2_S4, reference frame 1: [1/24, 33/24) s, [0, 64) px.
  const auto ref = reference_video_positions(2, 1, 1, 24.0, 2, 4);
  EXPECT_FLOAT_EQ(ref[0][0][1][0].item<float>(), 1.0f / 24.0f);
  EXPECT_FLOAT_EQ(ref[0][0][1][1].item<float>(), 1.375f);
  EXPECT_EQ(ref[0][1][1][1].item<float>(), 64.0f);
  // Target frame 0 is causal: [0, 1/fps); audio token 1 is [0.01, 0.05) s.
  const auto target = video_positions(2, 1, 1, 24.0);
  EXPECT_EQ(target[0][0][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(target[0][0][1][0].item<float>(), 1.0f / 24.0f);
  const auto audio = audio_positions(2);
  EXPECT_FLOAT_EQ(audio[0][0][1][0].item<float>(), 0.01f);
  EXPECT_FLOAT_EQ(audio[0][0][1][1].item<float>(), 0.05f);
}

}  // namespace
}  // namespace avtrain::models
