#include "models/audio/vocoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "models/audio/anti_aliased_activation.h"
#include "recorded_close.h"
#include "testing/golden.h"

namespace avtrain::models {
namespace {

using nlohmann::json;
using testing::Tolerance;
using Shapes = std::map<std::string, std::vector<int64_t>>;

// golden/README.md: rtol = atol = 1e-5 for the vocoder.
constexpr Tolerance kVocoderTolerance{1e-5, 1e-5};

std::shared_ptr<const core::SafetensorsSet> open_set(const std::filesystem::path& path) {
  return std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
}

TEST(VocoderGolden, WaveformAt48kHzMatchesInFloat32) {
  AVTRAIN_REQUIRE_GOLDEN(path, "vocoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto vocoder = load_vocoder(open_set(path));
  torch::NoGradGuard no_grad;
  const auto mel = golden.tensor("input.mel");  // [2, 2, 13, 64]
  const auto stages = vocoder->forward_stages(mel);
  AUDIO_EXPECT_CLOSE(stages.waveform_16k, golden.tensor("debug.vocoder_out_16k"), kVocoderTolerance,
                     "debug.vocoder_out_16k");
  AUDIO_EXPECT_CLOSE(stages.bwe_mel, golden.tensor("debug.bwe_mel"), kVocoderTolerance, "debug.bwe_mel");
  AUDIO_EXPECT_CLOSE(stages.residual, golden.tensor("debug.bwe_residual"), kVocoderTolerance,
                     "debug.bwe_residual");
  AUDIO_EXPECT_CLOSE(stages.skip, golden.tensor("debug.bwe_skip_resampled"), kVocoderTolerance,
                     "debug.bwe_skip_resampled");
  const auto waveform = vocoder(mel);
  EXPECT_EQ(waveform.sizes(), (std::vector<int64_t>{2, 2, vocoder->output_samples(13)}));
  EXPECT_EQ(vocoder->output_samples(13), 390);
  AUDIO_EXPECT_CLOSE(waveform, golden.tensor("output.waveform"), kVocoderTolerance, "output.waveform");
  EXPECT_LE(waveform.abs().max().item<double>(), 1.0);
  // The reference casts the float32 result to the input's dtype (bf16 in the pipelines).
  const auto from_bf16 = vocoder(mel.to(torch::kBFloat16));
  EXPECT_EQ(from_bf16.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(from_bf16.sizes(), waveform.sizes());
}

TEST(VocoderGolden, ResamplerFilterIsComputedAsTheReference) {
  AVTRAIN_REQUIRE_GOLDEN(path, "vocoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  AUDIO_EXPECT_CLOSE(bwe_resampler_filter(3), golden.tensor("debug.resampler_filter"),
                     Tolerance::absolute(1e-7), "debug.resampler_filter");
}

TEST(VocoderGolden, KaiserSincFilterEqualsTheStoredBuffers) {
  AVTRAIN_REQUIRE_GOLDEN(path, "vocoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  const auto expected = kaiser_sinc_filter(0.25, 0.3, 12);
  AUDIO_EXPECT_CLOSE(golden.tensor("vocoder.vocoder.act_post.upsample.filter"), expected,
                     Tolerance::absolute(1e-7), "upsample.filter");
  AUDIO_EXPECT_CLOSE(golden.tensor("vocoder.bwe_generator.act_post.downsample.lowpass.filter"), expected,
                     Tolerance::absolute(1e-7), "downsample.lowpass.filter");
}

TEST(VocoderGolden, StftBasisIsAHannWindowedDft) {
  AVTRAIN_REQUIRE_GOLDEN(path, "vocoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  AUDIO_EXPECT_CLOSE(hann_dft_basis(256), golden.tensor("vocoder.mel_stft.stft_fn.forward_basis"),
                     Tolerance::absolute(1e-6), "forward_basis");
}

TEST(VocoderGolden, FullSizeKeysAndShapesEqualTheReleasedLayout) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  std::ifstream in(path);
  const auto listing = json::parse(in);
  const auto config = VocoderConfig::from_checkpoint(listing.at("config").at("vocoder"));
  const auto weights = WeightSource::meta("vocoder.");
  Vocoder vocoder(weights, config);
  Shapes taken, listed, modules, listed_modules;
  for (const auto& [key, shape] : weights.taken()) taken[key] = shape;
  for (const auto& [key, entry] : listing.at("components").at("vocoder").at("keys").items()) {
    listed[key] = entry.at("shape").get<std::vector<int64_t>>();
    listed_modules[entry.at("module_key").get<std::string>()] = listed[key];
  }
  EXPECT_EQ(taken.size(), 1227u);
  EXPECT_EQ(taken, listed);
  for (const auto& item : vocoder->named_parameters()) modules[item.key()] = item.value().sizes().vec();
  for (const auto& item : vocoder->named_buffers()) modules[item.key()] = item.value().sizes().vec();
  EXPECT_EQ(modules, listed_modules);
  EXPECT_EQ(vocoder->output_samples(369), 177120);  // vae_audio.md §8.4
}

}  // namespace
}  // namespace avtrain::models
