#include "models/audio/mel_front_end.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "recorded_close.h"
#include "testing/golden.h"

namespace avtrain::models {
namespace {

using testing::Tolerance;

// Real LTX-2.3 front end parameters (golden/README.md "mel_frontend").
MelFrontEndOptions ltx23_options() {
  MelFrontEndOptions options;
  options.sample_rate = 16000;
  options.n_fft = 1024;
  options.hop_length = 160;
  options.n_mels = 64;
  return options;
}

// golden/README.md: rtol = atol = 1e-5 for the mel front end.
constexpr Tolerance kMelTolerance{1e-5, 1e-5};

TEST(MelFrontEndGolden, FilterbankAndWindowMatchTorchaudio) {
  AVTRAIN_REQUIRE_GOLDEN(path, "mel_frontend.safetensors");
  const testing::GoldenFile golden(path);
  const MelFrontEnd front_end(ltx23_options());
  AUDIO_EXPECT_CLOSE(front_end.filterbank(), golden.tensor("debug.mel_filterbank"), Tolerance::absolute(1e-7),
                     "mel_filterbank");
  AUDIO_EXPECT_CLOSE(front_end.window(), golden.tensor("debug.stft_window"), Tolerance::absolute(1e-7),
                     "stft_window");
}

TEST(MelFrontEndGolden, LogMelOf16kHzStereoMatchesInFloat32) {
  AVTRAIN_REQUIRE_GOLDEN(path, "mel_frontend.safetensors");
  const testing::GoldenFile golden(path);
  const MelFrontEnd front_end(ltx23_options());
  const auto mel = front_end(golden.tensor("input.waveform_16k"), 16000);
  EXPECT_EQ(mel.sizes(), (std::vector<int64_t>{1, 2, 51, 64}));
  EXPECT_EQ(front_end.frames(8000), 51);
  AUDIO_EXPECT_CLOSE(mel, golden.tensor("output.mel_16k"), kMelTolerance, "output.mel_16k");
}

TEST(MelFrontEndGolden, ResamplesFrom44100HzWithTheWindowedSincKernel) {
  AVTRAIN_REQUIRE_GOLDEN(path, "mel_frontend.safetensors");
  const testing::GoldenFile golden(path);
  const auto waveform = golden.tensor("input.waveform_44k1");
  const auto resampled = resample_sinc(waveform, 44100, 16000);
  AUDIO_EXPECT_CLOSE(resampled, golden.tensor("debug.resampled_44k1_to_16k"), kMelTolerance,
                     "resampled_44k1_to_16k");
  const MelFrontEnd front_end(ltx23_options());
  const auto mel = front_end(waveform, 44100);
  EXPECT_EQ(mel.sizes(), (std::vector<int64_t>{1, 2, 26, 64}));
  AUDIO_EXPECT_CLOSE(mel, golden.tensor("output.mel_44k1"), kMelTolerance, "output.mel_44k1");
}

TEST(MelFrontEnd, ResamplingKeepsALowToneAndItsLength) {
  // A 440 Hz tone at 48 kHz resampled to 16 kHz stays a 440 Hz tone (away from the edges).
  const auto t48 = torch::arange(4800, torch::kFloat64) / 48000.0;
  const auto tone48 = torch::sin(2 * M_PI * 440.0 * t48).to(torch::kFloat32).view({1, 1, -1});
  const auto tone16 = resample_sinc(tone48, 48000, 16000);
  ASSERT_EQ(tone16.size(2), 1600);
  const auto t16 = torch::arange(1600, torch::kFloat64) / 16000.0;
  const auto expected = torch::sin(2 * M_PI * 440.0 * t16).to(torch::kFloat32).view({1, 1, -1});
  AUDIO_EXPECT_CLOSE(tone16.slice(2, 100, 1500), expected.slice(2, 100, 1500), Tolerance::absolute(2e-3),
                     "tone");
  EXPECT_TRUE(torch::equal(resample_sinc(tone48, 48000, 48000), tone48));
}

TEST(MelFrontEnd, DuplicatesMonoToStereo) {
  const MelFrontEnd front_end(ltx23_options());
  const auto mono = torch::sin(torch::arange(3200, torch::kFloat32) * 0.05).view({1, 1, -1});
  const auto from_mono = front_end(mono, 16000);
  const auto from_stereo = front_end(torch::cat({mono, mono}, 1), 16000);
  ASSERT_EQ(from_mono.sizes(), (std::vector<int64_t>{1, 2, 21, 64}));
  EXPECT_TRUE(torch::equal(from_mono, from_stereo));
}

TEST(MelFrontEnd, SilenceGivesTheLogFloor) {
  const MelFrontEnd front_end(ltx23_options());
  const auto mel = front_end(torch::zeros({2, 2, 1600}), 16000);
  EXPECT_EQ(mel.sizes(), (std::vector<int64_t>{2, 2, 11, 64}));
  EXPECT_NEAR(mel.max().item<double>(), std::log(1e-5), 1e-6);
}

TEST(MelFrontEnd, RefusesFiveChannelsAndSaysWhatItTakes) {
  const MelFrontEnd front_end(ltx23_options());
  try {
    front_end(torch::zeros({1, 5, 16000}), 16000);
    FAIL() << "no error";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 5, 16000]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1 or 2 channels"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace avtrain::models
