#include "models/tiny.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "models/audio/audio_vae_decoder.h"
#include "models/audio/audio_vae_encoder.h"
#include "models/audio/vocoder.h"
#include "models/checkpoint.h"
#include "models/layers/weight_source.h"
#include "models/text/embeddings_processor.h"
#include "models/text/gemma_text_encoder.h"
#include "models/text/tiny_text.h"
#include "models/text/token_batch.h"
#include "models/text/tokenizer.h"
#include "models/transformer/positions.h"
#include "models/transformer/transformer_model.h"
#include "models/video_vae/video_vae_decoder.h"
#include "models/video_vae/video_vae_encoder.h"
#include "testing/golden.h"
#include "testing/temp_dir.h"

namespace avtrain::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Relative path -> bytes of every file under `root`.
std::map<std::string, std::string> tree_bytes(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) files[fs::relative(entry.path(), root).string()] = file_bytes(entry.path());
  }
  return files;
}

bool finite(const torch::Tensor& t) { return torch::isfinite(t.to(torch::kFloat32)).all().item<bool>(); }

// One tiny model (seed 0) shared by the tests of this file: writing it is the slow part.
class TinyModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>("avtrain-tiny");
    const auto start = std::chrono::steady_clock::now();
    write_tiny_model(dir_->path(), 0);
    write_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    set_ = std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(checkpoint()));
  }
  static void TearDownTestSuite() {
    set_.reset();
    dir_.reset();
  }
  static fs::path checkpoint() { return dir_->path() / kTinyCheckpointName; }
  static fs::path gemma_dir() { return dir_->path() / kTinyGemmaDirName; }

  static std::unique_ptr<testing::TempDir> dir_;
  static std::shared_ptr<const core::SafetensorsSet> set_;
  static double write_seconds_;
};
std::unique_ptr<testing::TempDir> TinyModel::dir_;
std::shared_ptr<const core::SafetensorsSet> TinyModel::set_;
double TinyModel::write_seconds_ = 0;

TEST_F(TinyModel, WritesTheCheckpointAndTheGemmaDirectoryAndNothingElse) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_->path())) names.insert(entry.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{kTinyCheckpointName, kTinyGemmaDirName}));  // no staging left
  EXPECT_TRUE(fs::is_regular_file(gemma_dir() / "config.json"));
  EXPECT_TRUE(fs::is_regular_file(gemma_dir() / "tokenizer.json"));
  EXPECT_TRUE(fs::is_regular_file(gemma_dir() / "model.safetensors"));
}

TEST_F(TinyModel, IsSmallAndQuickToWrite) {
  const auto checkpoint_bytes = fs::file_size(checkpoint());
  uintmax_t gemma_bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(gemma_dir())) {
    if (entry.is_regular_file()) gemma_bytes += entry.file_size();
  }
  int64_t parameters = 0;
  for (const auto& name : set_->names()) parameters += set_->at(name).entry->numel();
  std::cout << "tiny model: " << kTinyCheckpointName << " " << checkpoint_bytes << " bytes, " << set_->names().size()
            << " tensors, " << parameters << " parameters; " << kTinyGemmaDirName << "/ " << gemma_bytes
            << " bytes; written in " << write_seconds_ << " s\n";
  // The CPU demo trains it for a few hundred steps in minutes: keep it a few MB.
  EXPECT_LT(checkpoint_bytes, 8u << 20);
  EXPECT_LT(gemma_bytes, 4u << 20);
}

TEST_F(TinyModel, MetadataCarriesTheConfigAndTheModelVersion) {
  const auto& metadata = set_->metadata();
  ASSERT_TRUE(metadata.count("model_version"));
  EXPECT_EQ(metadata.at("model_version"), "2.3.0");
  const auto config = checkpoint_config(*set_);
  EXPECT_EQ(config, tiny_ltx_config());
  for (const char* section : {"transformer", "vae", "audio_vae", "vocoder", "scheduler"}) {
    EXPECT_TRUE(config.contains(section)) << section;
  }
}

TEST_F(TinyModel, StoresEveryTensorInBf16LikeTheRelease) {
  for (const auto& name : set_->names()) {
    EXPECT_EQ(set_->at(name).entry->dtype, core::Dtype::bf16) << name;
  }
}

// Builds every component from the file the way the loaders do and checks that together they take
// exactly the file's keys: none missing (finish throws), none unused.
TEST_F(TinyModel, EveryKeyIsTakenByExactlyTheComponentsThatNeedIt) {
  const auto config = checkpoint_config(*set_);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  std::set<std::string> taken;
  const auto record = [&](const WeightSource& source, const char* component) {
    EXPECT_NO_THROW(source.finish(component)) << component;
    for (const auto& [key, shape] : source.taken()) taken.insert(key);
  };
  {
    const auto w = WeightSource::from_checkpoint(set_, "model.diffusion_model.", f32);
    TransformerModel model(w, TransformerConfig::from_checkpoint(config.at("transformer")));
    record(w, "transformer");
  }
  const auto video = VideoVaeConfig::from_checkpoint(config);
  {
    const auto w = WeightSource::from_checkpoint(set_, "", f32);
    VideoVaeEncoder encoder(w.at("vae").at("encoder"), w.at("vae").at("per_channel_statistics"), video);
    VideoVaeDecoder decoder(w.at("vae").at("decoder"), w.at("vae").at("per_channel_statistics"), video);
    record(w, "video VAE");
  }
  const auto audio = AudioVaeConfig::from_checkpoint(config.at("audio_vae"));
  {
    const auto w = WeightSource::from_checkpoint(set_, "", f32);
    AudioVaeEncoder encoder(w.at("audio_vae").at("encoder"), w.at("audio_vae").at("per_channel_statistics"), audio);
    AudioVaeDecoder decoder(w.at("audio_vae").at("decoder"), w.at("audio_vae").at("per_channel_statistics"), audio);
    record(w, "audio VAE");
  }
  {
    const auto w = WeightSource::from_checkpoint(set_, "vocoder.", f32);
    Vocoder vocoder(w, VocoderConfig::from_checkpoint(config.at("vocoder")));
    record(w, "vocoder");
  }
  {
    const auto gemma = text::tiny_gemma_config();
    const auto text_config = text::EmbeddingsProcessorConfig::from_checkpoint(*set_, gemma.hidden_size,
                                                                               gemma.num_hidden_layers);
    const auto fe = WeightSource::from_checkpoint(set_, text::kFeatureExtractorPrefix, f32);
    const auto vc = WeightSource::from_checkpoint(set_, text::kVideoConnectorPrefix, f32);
    const auto ac = WeightSource::from_checkpoint(set_, text::kAudioConnectorPrefix, f32);
    text::EmbeddingsProcessor processor(fe, vc, ac, text_config);
    record(fe, "feature extractor");
    record(vc, "video connector");
    record(ac, "audio connector");
  }
  const auto names = set_->names();
  const std::set<std::string> in_file(names.begin(), names.end());
  std::vector<std::string> unused, missing;
  for (const auto& key : in_file) {
    if (!taken.count(key)) unused.push_back(key);
  }
  for (const auto& key : taken) {
    if (!in_file.count(key)) missing.push_back(key);
  }
  EXPECT_TRUE(unused.empty()) << unused.size() << " unused key(s), first: " << unused.front();
  EXPECT_TRUE(missing.empty()) << missing.size() << " missing key(s), first: " << missing.front();
}

TEST_F(TinyModel, EveryComponentLoadsThroughItsOwnLoader) {
  const auto gemma = text::tiny_gemma_config();
  std::vector<std::string> warnings;
  {
    // The text connectors share the transformer's prefix: they are not "unused" transformer keys.
    core::LogCapture capture([&](const core::LogLine& line) {
      if (line.level == "warning") warnings.push_back(line.message);
    });
    EXPECT_NO_THROW(load_transformer(set_, torch::kFloat32));
  }
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  EXPECT_NO_THROW(load_video_vae_encoder(set_, torch::kFloat32));
  EXPECT_NO_THROW(load_video_vae_decoder(set_, torch::kFloat32));
  EXPECT_NO_THROW(load_audio_vae_encoder(set_, torch::kFloat32));
  EXPECT_NO_THROW(load_audio_vae_decoder(set_, torch::kFloat32));
  EXPECT_NO_THROW(load_vocoder(set_));
  EXPECT_NO_THROW(text::load_embeddings_processor(set_, gemma.hidden_size, gemma.num_hidden_layers, torch::kFloat32));
  EXPECT_NO_THROW(text::load_gemma_text_encoder(gemma_dir(), torch::kFloat32));
}

// Prompt -> tokenizer -> Gemma -> embeddings processor -> transformer: the whole text-to-velocity path
// of the tiny model runs and stays finite.
TEST_F(TinyModel, PromptToVelocityRunsAndIsFinite) {
  torch::NoGradGuard no_grad;
  const auto tokenizer = text::Tokenizer::from_file(gemma_dir() / "tokenizer.json");
  const auto ids = tokenizer.encode_prompt("a red fox jumps over the lazy dog");
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids.front(), tokenizer.bos_id());
  for (const auto id : ids) EXPECT_LT(id, text::kTinyGemmaVocabSize);

  // The connectors replace padding with 128 learnable registers: the length is a multiple of 128.
  const auto batch = encode_ltx_batch(tokenizer, {"a red fox jumps over the lazy dog", ""}, 128);
  auto gemma = text::load_gemma_text_encoder(gemma_dir(), torch::kFloat32);
  const auto states = gemma->forward(batch.input_ids, batch.attention_mask);
  ASSERT_EQ(static_cast<int64_t>(states.size()), text::tiny_gemma_config().num_hidden_layers + 1);
  for (const auto& state : states) EXPECT_TRUE(finite(state));

  const auto gemma_config = text::tiny_gemma_config();
  auto processor = text::load_embeddings_processor(set_, gemma_config.hidden_size, gemma_config.num_hidden_layers,
                                                   torch::kFloat32);
  const auto context = processor->forward(states, batch.attention_mask);
  ASSERT_EQ(context.video.sizes(), (std::vector<int64_t>{2, 128, 32}));
  ASSERT_EQ(context.audio.sizes(), (std::vector<int64_t>{2, 128, 16}));
  EXPECT_TRUE(finite(context.video));
  EXPECT_TRUE(finite(context.audio));

  auto model = load_transformer(set_, torch::kFloat32);
  torch::manual_seed(3);
  Modality video, audio;
  video.positions = video_positions(2, 2, 2, 24.0).expand({2, -1, -1, -1});
  video.latent = torch::randn({2, 8, model->config.in_channels});
  video.sigma = torch::full({2}, 0.7f);
  video.timesteps = torch::full({2, 8}, 0.7f);
  video.context = context.video;
  video.context_mask = context.attention_mask;
  audio.positions = audio_positions(6).expand({2, -1, -1, -1});
  audio.latent = torch::randn({2, 6, model->config.audio_in_channels});
  audio.sigma = torch::full({2}, 0.7f);
  audio.timesteps = torch::full({2, 6}, 0.7f);
  audio.context = context.audio;
  audio.context_mask = context.attention_mask;
  const auto out = model->forward(video, audio);
  ASSERT_EQ(out.video.sizes(), (std::vector<int64_t>{2, 8, 8}));
  ASSERT_EQ(out.audio.sizes(), (std::vector<int64_t>{2, 6, 32}));
  EXPECT_TRUE(finite(out.video));
  EXPECT_TRUE(finite(out.audio));
  EXPECT_GT(out.video.abs().max().item<float>(), 0.0f);
}

TEST_F(TinyModel, VideoVaeRoundTripRunsAndIsFinite) {
  torch::NoGradGuard no_grad;
  auto encoder = load_video_vae_encoder(set_, torch::kFloat32);
  auto decoder = load_video_vae_decoder(set_, torch::kFloat32);
  torch::manual_seed(4);
  const auto video = torch::rand({1, 3, 9, 32, 64}) * 2 - 1;
  const auto latent = encoder->encode(video);
  ASSERT_EQ(latent.sizes(), (std::vector<int64_t>{1, 8, 2, 1, 2}));
  EXPECT_TRUE(finite(latent));
  const auto decoded = decoder->decode(latent);
  ASSERT_EQ(decoded.sizes(), video.sizes());
  EXPECT_TRUE(finite(decoded));
}

TEST_F(TinyModel, AudioVaeAndVocoderRunAndAreFinite) {
  torch::NoGradGuard no_grad;
  auto encoder = load_audio_vae_encoder(set_, torch::kFloat32);
  auto decoder = load_audio_vae_decoder(set_, torch::kFloat32);
  auto vocoder = load_vocoder(set_);
  torch::manual_seed(5);
  const auto mel = torch::randn({1, 2, 17, 64}) - 4;
  const auto latent = encoder->forward(mel);
  ASSERT_EQ(latent.sizes(), (std::vector<int64_t>{1, 2, 5, 16}));
  EXPECT_TRUE(finite(latent));
  const auto decoded = decoder->forward(latent);
  ASSERT_EQ(decoded.sizes(), (std::vector<int64_t>{1, 2, 17, 64}));
  EXPECT_TRUE(finite(decoded));
  const auto waveform = vocoder->forward(decoded);
  ASSERT_EQ(waveform.sizes(), (std::vector<int64_t>{1, 2, vocoder->output_samples(17)}));
  EXPECT_TRUE(finite(waveform));
  EXPECT_LE(waveform.abs().max().item<float>(), 1.0f);
}

// The vocoder's filters and STFT/mel bases are the values ltx-core computes (a random draw would
// not be a low-pass filter): equal, after bf16 rounding, to the buffers of golden/vocoder_tiny,
// which has the same vocoder config.
TEST_F(TinyModel, VocoderBuffersEqualTheGoldenVocoderBuffers) {
  AVTRAIN_REQUIRE_GOLDEN(path, "vocoder_tiny.safetensors");
  const testing::GoldenFile golden(path);
  int compared = 0;
  for (const auto& name : set_->names()) {
    const bool filter = name.find(".filter") != std::string::npos;
    const bool stft = name.rfind("vocoder.mel_stft.", 0) == 0;
    if (!filter && !stft) continue;
    ASSERT_TRUE(golden.has(name)) << name;
    const auto mine = core::read_tensor(*set_, name).to(torch::kFloat32);
    const auto expected = golden.tensor(name).to(torch::kBFloat16).to(torch::kFloat32);
    if (name == "vocoder.mel_stft.stft_fn.inverse_basis") {
      // Unused by inference (vae_audio.md §9.2); allow the pseudo-inverse's float error.
      AVTRAIN_EXPECT_CLOSE(mine, expected, testing::Tolerance::absolute(1e-3), name);
    } else if (name == "vocoder.mel_stft.stft_fn.forward_basis") {
      // Exact zeros of the DFT (sin of multiples of pi) come out as ~1e-14 of either sign.
      AVTRAIN_EXPECT_CLOSE(mine, expected, testing::Tolerance::absolute(1e-6), name);
    } else {
      AVTRAIN_EXPECT_CLOSE(mine, expected, testing::Tolerance::absolute(0), name);
    }
    ++compared;
  }
  EXPECT_GT(compared, 100);
}

TEST(TinyModelFiles, SameSeedGivesByteIdenticalFilesAndAnotherSeedDifferent) {
  testing::TempDir a("avtrain-tiny-a"), b("avtrain-tiny-b"), c("avtrain-tiny-c");
  write_tiny_model(a.path(), 7);
  write_tiny_model(b.path(), 7);
  write_tiny_model(c.path(), 8);
  const auto first = tree_bytes(a.path());
  EXPECT_EQ(first.size(), 4u);  // checkpoint + config.json, tokenizer.json, model.safetensors
  EXPECT_TRUE(first == tree_bytes(b.path()));
  const auto other = tree_bytes(c.path());
  EXPECT_NE(first.at(kTinyCheckpointName), other.at(kTinyCheckpointName));
  const auto gemma_weights = std::string(kTinyGemmaDirName) + "/model.safetensors";
  EXPECT_NE(first.at(gemma_weights), other.at(gemma_weights));
  // Rewriting into a folder that holds a model replaces it in place.
  write_tiny_model(a.path(), 8);
  EXPECT_TRUE(tree_bytes(a.path()) == other);
}

TEST(TinyModelConfig, IsTheGoldenTinyConfigWithTheTinyGemmaCaptionWidth) {
  AVTRAIN_REQUIRE_GOLDEN(path, "transformer_av_tiny.safetensors");
  const testing::GoldenFile golden(path);
  auto expected = json::parse(golden.metadata("config"));
  const auto config = tiny_ltx_config();
  EXPECT_EQ(config.at("transformer").at("caption_channels"), text::tiny_gemma_config().hidden_size);
  expected["transformer"]["caption_channels"] = text::tiny_gemma_config().hidden_size;
  EXPECT_EQ(config, expected);
}

TEST(TinyModelConfig, TextSizesFitTheTinyGemmaAndTheTransformer) {
  const auto config = tiny_ltx_config();
  const auto gemma = text::tiny_gemma_config();
  const auto text_config = text::EmbeddingsProcessorConfig::from_transformer_config(
      config.at("transformer"), gemma.hidden_size, gemma.num_hidden_layers, "tiny");
  const auto transformer = TransformerConfig::from_checkpoint(config.at("transformer"));
  EXPECT_EQ(text_config.gemma_hidden_size, 64);
  EXPECT_EQ(text_config.hidden_states, gemma.num_hidden_layers + 1);
  EXPECT_EQ(text_config.video_dim, transformer.cross_attention_dim);
  EXPECT_EQ(text_config.audio_dim, transformer.audio_cross_attention_dim);
}

TEST(TinyModelCache, GeneratesOnFirstUseAndReusesAfter) {
  testing::TempDir cache("avtrain-tiny-cache");
  const auto dir = ensure_tiny_model(cache.path());
  EXPECT_EQ(dir.parent_path(), cache.path());
  ASSERT_TRUE(fs::is_regular_file(dir / kTinyCheckpointName));
  ASSERT_TRUE(fs::is_regular_file(dir / kTinyGemmaDirName / "tokenizer.json"));
  const auto written = fs::last_write_time(dir / kTinyCheckpointName);
  EXPECT_EQ(ensure_tiny_model(cache.path()), dir);
  EXPECT_EQ(fs::last_write_time(dir / kTinyCheckpointName), written);  // reused, not rewritten
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(cache.path())) ++entries;
  EXPECT_EQ(entries, 1u);  // no staging folder left behind

  // A damaged copy (text encoder deleted by hand) is regenerated.
  fs::remove_all(dir / kTinyGemmaDirName);
  EXPECT_EQ(ensure_tiny_model(cache.path()), dir);
  EXPECT_TRUE(fs::is_regular_file(dir / kTinyGemmaDirName / "config.json"));

  // "tiny" resolves to the cached files.
  const auto files = resolve_model_files("tiny", "tiny", cache.path());
  EXPECT_EQ(files.checkpoint, dir / kTinyCheckpointName);
  EXPECT_EQ(files.text_encoder_dir, dir / kTinyGemmaDirName);
}

// Sets an environment variable for one scope and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TinyModelCache, DefaultCacheDirFollowsAvtrainCacheDirThenXdgThenHome) {
  {
    ScopedEnv avtrain("AVTRAIN_CACHE_DIR", "/x/avtrain-cache");
    ScopedEnv xdg("XDG_CACHE_HOME", "/x/xdg");
    EXPECT_EQ(default_cache_dir(), fs::path("/x/avtrain-cache"));
  }
  {
    ScopedEnv avtrain("AVTRAIN_CACHE_DIR", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", "/x/xdg");
    EXPECT_EQ(default_cache_dir(), fs::path("/x/xdg/avtrain"));
  }
  {
    ScopedEnv avtrain("AVTRAIN_CACHE_DIR", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", "/x/home");
    EXPECT_EQ(default_cache_dir(), fs::path("/x/home/.cache/avtrain"));
  }
}

}  // namespace
}  // namespace avtrain::models
