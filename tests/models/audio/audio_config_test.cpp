#include "models/audio/audio_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "testing/golden.h"

namespace avtrain::models {
namespace {

using nlohmann::json;

json full_config() {
  std::string why;
  const auto path = testing::find_golden("ltx23_full_keys.json", why);
  if (!path) return {};
  std::ifstream in(*path);
  return json::parse(in).at("config");
}

// The config sections of LTX-2.3 as vae_audio.md §1.1 lists them, for error cases that need no file.
json ltx23_audio_vae() {
  return json::parse(R"({"model": {"params": {"ddconfig": {"double_z": true, "mel_bins": 64, "z_channels": 8,
    "resolution": 256, "downsample_time": false, "in_channels": 2, "out_ch": 2, "ch": 128, "ch_mult": [1, 2, 4],
    "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0, "mid_block_add_attention": false,
    "norm_type": "pixel", "causality_axis": "height"}, "sampling_rate": 16000}},
    "preprocessing": {"audio": {"sampling_rate": 16000, "stereo": true, "causal_padding": 3},
      "stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": true},
      "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}}})");
}

json ltx23_vocoder() {
  return json::parse(R"({"vocoder": {"upsample_initial_channel": 1536, "resblock": "AMP1",
    "upsample_rates": [5, 2, 2, 2, 2, 2], "resblock_kernel_sizes": [3, 7, 11],
    "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "stereo": true, "use_tanh_at_final": false, "activation": "snakebeta", "use_bias_at_final": false},
    "bwe": {"upsample_initial_channel": 512, "resblock": "AMP1", "upsample_rates": [6, 5, 2, 2, 2],
    "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [12, 11, 4, 4, 4],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": true, "use_tanh_at_final": false,
    "activation": "snakebeta", "use_bias_at_final": false, "apply_final_activation": false,
    "input_sampling_rate": 16000, "output_sampling_rate": 48000, "hop_length": 80, "n_fft": 512,
    "win_size": 512, "num_mels": 64}})");
}

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const core::InvalidInput& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(AudioVaeConfig, ReadsTheLtx23Section) {
  const auto config = AudioVaeConfig::from_checkpoint(ltx23_audio_vae());
  EXPECT_EQ(config.ch, 128);
  EXPECT_EQ(config.ch_mult, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(config.z_channels, 8);
  EXPECT_EQ(config.downsample_factor(), 4);
  EXPECT_EQ(config.latent_mel_bins(), 16);
  EXPECT_EQ(config.latent_features(), 128);
  EXPECT_DOUBLE_EQ(config.latents_per_second(), 25.0);
  EXPECT_EQ(config.n_fft, 1024);
  EXPECT_EQ(config.hop_length, 160);
  EXPECT_EQ(config.sample_rate, 16000);
}

TEST(AudioVaeConfig, MatchesTheReleasedConfigOfTheKeyListing) {
  const auto config = full_config();
  if (config.is_null()) GTEST_SKIP() << "ltx23_full_keys.json not found";
  EXPECT_EQ(config["audio_vae"]["model"]["params"]["ddconfig"],
            ltx23_audio_vae()["model"]["params"]["ddconfig"]);
  EXPECT_EQ(config["vocoder"], ltx23_vocoder());
  const auto audio = AudioVaeConfig::from_checkpoint(config.at("audio_vae"));
  EXPECT_EQ(audio.latent_features(), 128);
  const auto vocoder = VocoderConfig::from_checkpoint(config.at("vocoder"));
  EXPECT_EQ(vocoder.output_samples(369), 177120);  // vae_audio.md §8.4: 89 frames at 24 fps
}

TEST(AudioVaeConfig, RefusesMidBlockAttentionAndNamesTheKey) {
  auto section = ltx23_audio_vae();
  section["model"]["params"]["ddconfig"].erase("mid_block_add_attention");  // ltx-core's default: true
  const auto message = error_of([&] { AudioVaeConfig::from_checkpoint(section); });
  EXPECT_NE(message.find("audio_vae.model.params.ddconfig.mid_block_add_attention"), std::string::npos)
      << message;
}

TEST(AudioVaeConfig, RefusesAttentionAtALevelResolution) {
  auto section = ltx23_audio_vae();
  section["model"]["params"]["ddconfig"]["attn_resolutions"] = json::array({64});  // level 2: 256 / 4
  const auto message = error_of([&] { AudioVaeConfig::from_checkpoint(section); });
  EXPECT_NE(message.find("attn_resolutions is 64"), std::string::npos) << message;
  section["model"]["params"]["ddconfig"].erase("attn_resolutions");  // default {8, 16, 32}: no level hits
  EXPECT_NO_THROW(AudioVaeConfig::from_checkpoint(section));
}

TEST(AudioVaeConfig, NamesAMissingKeyWithItsPath) {
  auto section = ltx23_audio_vae();
  section["preprocessing"]["stft"].erase("hop_length");
  const auto message = error_of([&] { AudioVaeConfig::from_checkpoint(section); });
  EXPECT_NE(message.find("audio_vae.preprocessing.stft.hop_length is missing"), std::string::npos) << message;
}

TEST(VocoderConfig, ReadsTheLtx23Section) {
  const auto config = VocoderConfig::from_checkpoint(ltx23_vocoder());
  EXPECT_EQ(config.vocoder.total_upsampling(), 160);
  EXPECT_EQ(config.bwe.total_upsampling(), 240);
  EXPECT_TRUE(config.vocoder.apply_final_activation);
  EXPECT_FALSE(config.vocoder.use_tanh_at_final);
  EXPECT_FALSE(config.bwe.apply_final_activation);
  EXPECT_EQ(config.resample_ratio(), 3);
  EXPECT_EQ(config.output_samples(1), 480);
}

TEST(VocoderConfig, RefusesTheLtx20HifiGanVocoder) {
  const auto ltx20 = json::parse(R"({"upsample_initial_channel": 1024, "resblock": "1",
    "upsample_rates": [6, 5, 2, 2, 2], "upsample_kernel_sizes": [16, 15, 8, 4, 4],
    "resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]]})");
  const auto message = error_of([&] { VocoderConfig::from_checkpoint(ltx20); });
  EXPECT_NE(message.find("vocoder.bwe is absent"), std::string::npos) << message;
  EXPECT_NE(message.find("LTX-2.0"), std::string::npos) << message;
}

TEST(VocoderConfig, RefusesAnotherResblockTypeAndNamesTheKey) {
  auto section = ltx23_vocoder();
  section["bwe"]["resblock"] = "AMP2";
  const auto message = error_of([&] { VocoderConfig::from_checkpoint(section); });
  EXPECT_NE(message.find("vocoder.bwe.resblock is \"AMP2\""), std::string::npos) << message;
}

TEST(AudioLatentFrames, FollowsTheSpecExamples) {
  EXPECT_EQ(audio_latent_frames(89, 24), 93);    // 3.708 s
  EXPECT_EQ(audio_latent_frames(121, 24), 126);  // the default clip
  EXPECT_EQ(audio_latent_frames(121, 25), 121);
  EXPECT_EQ(audio_latent_frames(0, 24), 0);
}

TEST(AudioLatentFrames, RoundsHalfToEvenLikePython) {
  // Python: round(1/10*25) = round(2.5) = 2, round(3/10*25) = round(7.5) = 8, round(5/10*25) = 12.
  EXPECT_EQ(audio_latent_frames(1, 10), 2);
  EXPECT_EQ(audio_latent_frames(3, 10), 8);
  EXPECT_EQ(audio_latent_frames(5, 10), 12);
  EXPECT_EQ(audio_latent_frames(1, 50), 0);  // 0.5 -> 0
}

TEST(AudioLatentFrames, RefusesANonPositiveFrameRate) {
  EXPECT_THROW(audio_latent_frames(10, 0), core::InvalidInput);
}

}  // namespace
}  // namespace avtrain::models
