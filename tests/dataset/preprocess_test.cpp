// Preprocessing qualifying pairs into tensors, the manifest, and the debug archive.
#include "dataset/preprocess.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zip.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "dataset/debug_archive.h"
#include "media/probe.h"
#include "media/test_media.h"
#include "testing/temp_dir.h"
#include "zip_builder.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;
using avtrain::testing::TempDir;
using testing::read_bytes;
using testing::ZipBuilder;

// A 1 s reference (440 Hz) and target (660 Hz) at 32x48 and 24 fps, 17 frames at 24 fps fitted
// to a 32x32 bucket with d = 2 and S = 2.
class Preprocess : public ::testing::Test {
 protected:
  void SetUp() override {
    media::TestClipOptions clip;
    clip.width = 48;
    clip.height = 32;
    clip.frames = 24;
    media::write_test_clip(dir_ / "ref.mp4", clip);
    clip.tone_hz = 660;
    clip.channels = 2;
    clip.sample_rate = 48000;
    media::write_test_clip(dir_ / "tgt.mp4", clip);
    ZipBuilder()
        .file("pairs/wave_start.mp4", read_bytes(dir_ / "ref.mp4"))
        .file("pairs/wave_end.mp4", read_bytes(dir_ / "tgt.mp4"))
        .file("pairs/wave.txt", "\xEF\xBB\xBF  a hand waves\n")
        .file("bare_start.mp4", read_bytes(dir_ / "ref.mp4"))
        .file("bare_end.mp4", read_bytes(dir_ / "tgt.mp4"))
        .write(dir_ / "clips.zip");
    options_.width = 32;
    options_.height = 32;
    options_.frames = 17;
    options_.frame_rate = 24;
    options_.reference_downscale = 2;
    options_.reference_temporal = 2;
    options_.trigger_phrase = "WAVE2WAVE";
  }

  TempDir dir_;
  DatasetOptions options_;
};

TEST_F(Preprocess, WritesModelReadyTensorsPerPair) {
  const auto prepared = prepare_dataset(dir_ / "clips.zip", dir_ / "work", "clips.zip", options_);
  ASSERT_EQ(prepared.pairs.size(), 2u);
  const auto& pair = prepared.pairs[1];
  EXPECT_EQ(pair.name, "wave");
  EXPECT_EQ(pair.prompt, "WAVE2WAVE a hand waves");
  EXPECT_EQ(prepared.pairs[0].prompt, "WAVE2WAVE");
  EXPECT_EQ(pair.target_frames, 17);
  EXPECT_EQ(pair.reference_frames, 9);  // [0, 1, 3, ..., 15]
  EXPECT_EQ(pair.target_sample_rate, 48000);
  EXPECT_EQ(pair.reference_sample_rate, 44100);

  const auto file = core::SafetensorsFile::open(pair.tensors);
  // The clips are kept as RGB8 (a quarter of float32's size); video_tensor makes the model's [-1, 1].
  const auto stored_video = core::read_tensor(file, file.entry(kTargetVideoKey));
  EXPECT_EQ(stored_video.scalar_type(), torch::kUInt8);
  const auto target_video = video_tensor(stored_video);
  const auto reference_video = video_tensor(core::read_tensor(file, file.entry(kReferenceVideoKey)));
  const auto target_audio = core::read_tensor(file, file.entry(kTargetAudioKey));
  const auto reference_audio = core::read_tensor(file, file.entry(kReferenceAudioKey));
  EXPECT_EQ(target_video.sizes(), (std::vector<int64_t>{3, 17, 32, 32}));
  EXPECT_EQ(reference_video.sizes(), (std::vector<int64_t>{3, 9, 16, 16}));
  EXPECT_EQ(target_audio.sizes(), (std::vector<int64_t>{2, 17 * 48000 / 24}));
  EXPECT_EQ(reference_audio.sizes(), (std::vector<int64_t>{2, 17 * 44100 / 24}));
  EXPECT_EQ(target_video.scalar_type(), torch::kFloat32);
  EXPECT_GE(target_video.min().item<float>(), -1.0f);
  EXPECT_LE(target_video.max().item<float>(), 1.0f);
  // The test frames hold black and white cells: the range is used almost fully.
  EXPECT_LT(target_video.min().item<float>(), -0.8f);
  EXPECT_GT(target_video.max().item<float>(), 0.8f);
  // Peak normalization to -1 dBFS (DECISIONS.md §16).
  EXPECT_NEAR(target_audio.abs().max().item<float>(), 0.891f, 0.01f);
  EXPECT_NEAR(reference_audio.abs().max().item<float>(), 0.891f, 0.01f);
  EXPECT_EQ(file.metadata().at("prompt"), "WAVE2WAVE a hand waves");
  EXPECT_EQ(file.metadata().at("reference_fps"), "12");
}

TEST_F(Preprocess, TensorLayoutMatchesTheFrames) {
  media::VideoFrames frames;
  frames.width = 2;
  frames.height = 1;
  frames.rgb = {0, 255, 0, 255, 255, 255, /* frame 1 */ 0, 0, 0, 0, 0, 255};
  const auto video = video_tensor(frames);
  EXPECT_EQ(video.sizes(), (std::vector<int64_t>{3, 2, 1, 2}));
  // A pair file's RGB8 clip converts to exactly the same values; float32 (older pair files) passes through.
  const auto rgb8 = rgb8_tensor(frames);
  EXPECT_EQ(rgb8.scalar_type(), torch::kUInt8);
  EXPECT_EQ(rgb8[2][1][0][1].item<int>(), 255);
  EXPECT_TRUE(torch::equal(video_tensor(rgb8), video));
  EXPECT_TRUE(torch::equal(video_tensor(video), video));
  EXPECT_FLOAT_EQ(video[1][0][0][0].item<float>(), 1.0f);  // green of frame 0, pixel 0
  EXPECT_FLOAT_EQ(video[0][0][0][1].item<float>(), 1.0f);  // red of frame 0, pixel 1
  EXPECT_FLOAT_EQ(video[2][1][0][1].item<float>(), 1.0f);  // blue of frame 1, pixel 1
  EXPECT_FLOAT_EQ(video[0][1][0][0].item<float>(), -1.0f);
  media::AudioBuffer audio;
  audio.sample_rate = 8000;
  audio.channels = 2;
  audio.samples = {0.1f, 0.2f, 0.3f, -0.1f, -0.2f, -0.3f};
  const auto pcm = audio_tensor(audio);
  EXPECT_EQ(pcm.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_FLOAT_EQ(pcm[1][2].item<float>(), -0.3f);
}

TEST_F(Preprocess, APairWhoseClipProbesButDoesNotDecodeIsRefusedNamingThePairAndItsFile) {
  media::write_wiped_mp4(dir_ / "tgt.mp4", dir_ / "wiped.mp4");
  ZipBuilder()
      .file("wave_start.mp4", read_bytes(dir_ / "ref.mp4"))
      .file("wave_end.mp4", read_bytes(dir_ / "wiped.mp4"))
      .write(dir_ / "wiped.zip");
  try {
    prepare_dataset(dir_ / "wiped.zip", dir_ / "work", "wiped.zip", options_);
    FAIL() << "no refusal";
  } catch (const core::DatasetRejected& error) {
    ASSERT_EQ(error.problems().size(), 1u);
    const auto& problem = error.problems()[0];
    EXPECT_EQ(problem.loc.back(), "wave_end.mp4");
    EXPECT_NE(problem.msg.find("wiped.zip: the pair wave cannot be preprocessed"), std::string::npos)
        << problem.msg;
    EXPECT_NE(problem.msg.find("wave_end.mp4"), std::string::npos) << problem.msg;
    EXPECT_EQ(problem.msg.find(dir_.path().string()), std::string::npos) << "no server path: " << problem.msg;
  }
}

TEST_F(Preprocess, ManifestRecordsPairsDecisionsAndWarnings) {
  ZipBuilder()
      .file("wave_start.mp4", read_bytes(dir_ / "ref.mp4"))
      .file("wave_end.mp4", read_bytes(dir_ / "tgt.mp4"))
      .file("wave.txt", "a hand waves")
      .write(dir_ / "one.zip");
  options_.frames = 33;  // 1.375 s: the 1 s clips are too short...
  EXPECT_THROW(prepare_dataset(dir_ / "one.zip", dir_ / "work_short", "one.zip", options_),
               core::DatasetRejected);
  options_.auto_scale_input = true;  // ...unless fitted
  const auto prepared = prepare_dataset(dir_ / "one.zip", dir_ / "work", "one.zip", options_);
  std::ifstream in(prepared.manifest);
  const auto manifest = nlohmann::json::parse(in);
  EXPECT_EQ(manifest["archive"], "one.zip");
  EXPECT_EQ(manifest["options"]["number_of_frames"], 33);
  EXPECT_EQ(manifest["options"]["auto_scale_input"], true);
  ASSERT_EQ(manifest["pairs"].size(), 1u);
  EXPECT_EQ(manifest["pairs"][0]["decision"], "used");
  ASSERT_EQ(manifest["prepared"].size(), 1u);
  EXPECT_EQ(manifest["prepared"][0]["tensors"], "pairs/wave.safetensors");
  EXPECT_EQ(manifest["prepared"][0]["target_frames"], 33);
  EXPECT_EQ(manifest["prepared"][0]["reference_frames"], 17);
  bool small_warning = false;
  for (const auto& warning : manifest["warnings"]) {
    small_warning |= warning.get<std::string>().find("aim for at least 10") != std::string::npos;
  }
  EXPECT_TRUE(small_warning);
}

TEST_F(Preprocess, DebugArchiveHoldsManifestViewableClipsAndPrompts) {
  const auto prepared =
      prepare_dataset(dir_ / "clips.zip", dir_ / "work", "clips.zip", options_, /*debug=*/true);
  write_debug_archive(prepared, dir_ / "debug_dataset.zip",
                      {{"latents/extra.txt", dir_ / "work/manifest.json"}});
  const auto extracted = extract_archive(dir_ / "debug_dataset.zip", dir_ / "debug_out", "debug_dataset.zip");
  std::vector<std::string> names;
  for (const auto& file : extracted.files) names.push_back(file.archive_path);
  EXPECT_EQ(names, (std::vector<std::string>{"manifest.json", "bare/reference.mp4", "bare/target.mp4",
                                             "bare/prompt.txt", "wave/reference.mp4", "wave/target.mp4",
                                             "wave/prompt.txt", "latents/extra.txt"}));
  EXPECT_EQ(read_bytes(dir_ / "debug_out/wave/prompt.txt"), "WAVE2WAVE a hand waves\n");
  const auto target = media::probe(dir_ / "debug_out/wave/target.mp4");
  EXPECT_EQ(target.video.display_width, 32);
  EXPECT_EQ(target.video.frame_count, 17);
  EXPECT_TRUE(target.audio.present);
  const auto reference = media::probe(dir_ / "debug_out/wave/reference.mp4");
  EXPECT_EQ(reference.video.display_width, 16);
  EXPECT_EQ(reference.video.frame_count, 9);
  EXPECT_NEAR(reference.video.fps, 12.0, 0.01);
  EXPECT_TRUE(reference.audio.present);
}

TEST(MakePrompt, PrependsTheTriggerPhraseAndTrims) {
  EXPECT_EQ(make_prompt("TRIG", "a cat"), "TRIG a cat");
  EXPECT_EQ(make_prompt("", "a cat"), "a cat");
  EXPECT_EQ(make_prompt("TRIG", ""), "TRIG");
  EXPECT_EQ(make_prompt("", ""), "");
}

}  // namespace
}  // namespace avtrain::dataset
