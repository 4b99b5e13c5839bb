#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/tensor_io.h"
#include "models/audio/audio_vae_decoder.h"
#include "models/audio/audio_vae_encoder.h"
#include "recorded_close.h"
#include "testing/golden.h"
#include "testing/temp_dir.h"

namespace avtrain::models {
namespace {

using nlohmann::json;
using testing::Tolerance;
using Shapes = std::map<std::string, std::vector<int64_t>>;

// golden/README.md: rtol = atol = 1e-5 for the VAEs.
constexpr Tolerance kVaeTolerance{1e-5, 1e-5};

std::shared_ptr<const core::SafetensorsSet> open_set(const std::filesystem::path& path) {
  return std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
}

Shapes taken_shapes(std::initializer_list<const WeightSource*> sources) {
  Shapes shapes;
  for (const auto* source : sources) {
    for (const auto& [key, shape] : source->taken()) shapes[key] = shape;
  }
  return shapes;
}

Shapes listed_shapes(const json& component, const std::string& field) {
  Shapes shapes;
  for (const auto& [key, entry] : component.at("keys").items()) {
    shapes[field == "checkpoint" ? key : entry.at("module_key").get<std::string>()] =
        entry.at("shape").get<std::vector<int64_t>>();
  }
  return shapes;
}

Shapes module_shapes(torch::nn::Module& module) {
  Shapes shapes;
  for (const auto& item : module.named_parameters()) shapes[item.key()] = item.value().sizes().vec();
  for (const auto& item : module.named_buffers()) shapes[item.key()] = item.value().sizes().vec();
  return shapes;
}

json full_keys(const std::filesystem::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

TEST(AudioVaeEncoderGolden, NormalizedLatentMatchesInFloat32) {
  AVTRAIN_REQUIRE_GOLDEN(path, "audio_vae_encoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto encoder = load_audio_vae_encoder(open_set(path), torch::kFloat32);
  torch::NoGradGuard no_grad;
  const auto mel = golden.tensor("input.mel");
  const auto raw = encoder->forward_network(mel);
  AUDIO_EXPECT_CLOSE(raw, golden.tensor("debug.conv_out_raw"), kVaeTolerance, "debug.conv_out_raw");
  const auto latent = encoder(mel);
  EXPECT_EQ(latent.sizes(), (std::vector<int64_t>{2, 2, 10, 16}));  // T' = ceil(37 / 4)
  AUDIO_EXPECT_CLOSE(latent, golden.tensor("output.latent"), kVaeTolerance, "output.latent");
}

TEST(AudioVaeDecoderGolden, LogMelMatchesInFloat32) {
  AVTRAIN_REQUIRE_GOLDEN(path, "audio_vae_decoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto decoder = load_audio_vae_decoder(open_set(path), torch::kFloat32);
  torch::NoGradGuard no_grad;
  const auto latent = golden.tensor("input.latent");
  const auto raw = decoder->forward_network(decoder->per_channel_statistics->un_normalize(latent));
  AUDIO_EXPECT_CLOSE(raw, golden.tensor("debug.conv_out_raw"), kVaeTolerance, "debug.conv_out_raw");
  const auto mel = decoder(latent);
  EXPECT_EQ(mel.size(2), 4 * 10 - 3);
  EXPECT_EQ(decoder->mel_frames(10), 37);
  AUDIO_EXPECT_CLOSE(mel, golden.tensor("output.mel"), kVaeTolerance, "output.mel");
}

TEST(AudioVaeGolden, FullSizeKeysAndShapesEqualTheReleasedLayout) {
  AVTRAIN_REQUIRE_GOLDEN(path, "ltx23_full_keys.json");
  const auto listing = full_keys(path);
  const auto config = AudioVaeConfig::from_checkpoint(listing.at("config").at("audio_vae"));
  {
    const auto weights = WeightSource::meta("audio_vae.encoder.");
    const auto statistics = WeightSource::meta("audio_vae.per_channel_statistics.");
    AudioVaeEncoder encoder(weights, statistics, config);
    const auto& component = listing.at("components").at("audio_vae_encoder");
    EXPECT_EQ(taken_shapes({&weights, &statistics}), listed_shapes(component, "checkpoint"));
    EXPECT_EQ(module_shapes(*encoder), listed_shapes(component, "module"));
  }
  {
    const auto weights = WeightSource::meta("audio_vae.decoder.");
    const auto statistics = WeightSource::meta("audio_vae.per_channel_statistics.");
    AudioVaeDecoder decoder(weights, statistics, config);
    const auto& component = listing.at("components").at("audio_vae_decoder");
    EXPECT_EQ(taken_shapes({&weights, &statistics}), listed_shapes(component, "checkpoint"));
    EXPECT_EQ(module_shapes(*decoder), listed_shapes(component, "module"));
  }
}

AudioVaeConfig tiny_config() {
  // golden/README.md's tiny audio VAE: ch 32, ch_mult [1, 1, 2], z 2.
  AudioVaeConfig config;
  config.ch = 32;
  config.ch_mult = {1, 1, 2};
  config.num_res_blocks = 2;
  config.z_channels = 2;
  config.in_channels = 2;
  config.out_ch = 2;
  config.mel_bins = 64;
  config.sample_rate = 16000;
  config.n_fft = 1024;
  config.hop_length = 160;
  return config;
}

TEST(AudioVae, RandomTinyModelGivesTheSpecLengths) {
  const auto config = tiny_config();
  AudioVaeEncoder encoder(WeightSource::random(1, "audio_vae.encoder."),
                          WeightSource::random(1, "audio_vae.per_channel_statistics."), config);
  AudioVaeDecoder decoder(WeightSource::random(2, "audio_vae.decoder."),
                          WeightSource::random(1, "audio_vae.per_channel_statistics."), config);
  torch::NoGradGuard no_grad;
  for (const int64_t frames : {1, 4, 5, 38}) {
    const auto latent = encoder(torch::randn({1, 2, frames, 64}));
    const int64_t latent_frames = (frames + 3) / 4;  // ceil(T / 4)
    EXPECT_EQ(latent.sizes(), (std::vector<int64_t>{1, 2, latent_frames, 16})) << frames << " mel frames";
    const auto mel = decoder(latent);
    EXPECT_EQ(mel.sizes(), (std::vector<int64_t>{1, 2, std::max<int64_t>(1, 4 * latent_frames - 3), 64}));
    EXPECT_TRUE(torch::isfinite(mel).all().item<bool>());
  }
}

TEST(AudioVaeGolden, LoaderListsEveryMissingKeyAndNamesTheFile) {
  AVTRAIN_REQUIRE_GOLDEN(path, "audio_vae_encoder_tiny.safetensors");
  const auto original = core::SafetensorsFile::open(path);
  core::NamedTensors kept;
  for (const auto& entry : original.entries()) {
    if (entry.name == "audio_vae.encoder.conv_in.conv.weight" ||
        entry.name == "audio_vae.per_channel_statistics.std-of-means") {
      continue;
    }
    kept.emplace_back(entry.name, core::read_tensor(original, entry));
  }
  testing::TempDir dir;
  core::write_tensors(dir / "broken.safetensors", kept, original.metadata());
  try {
    load_audio_vae_encoder(open_set(dir / "broken.safetensors"), torch::kFloat32);
    FAIL() << "no error";
  } catch (const core::InvalidInput& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("broken.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("audio_vae.encoder.conv_in.conv.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("audio_vae.per_channel_statistics.std-of-means"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace avtrain::models
