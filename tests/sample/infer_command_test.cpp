// `avtrain infer` end to end on the built-in tiny model: the binary applies a LoRA (with d = 2 reference
// metadata) to a generated reference clip and writes an mp4, checked with `avtrain media probe`. The
// reference media are written by hand (YUV4MPEG2 video, WAV audio), so this test needs no media library.
// Skipped when the avtrain binary was not built (AVTRAIN_WITH_SERVICE off).

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor_io.h"
#include "testing/child_process.h"
#include "testing/golden_dir.h"
#include "testing/temp_dir.h"

namespace avtrain::sample {
namespace {

namespace fs = std::filesystem;

// frames of width x height 4:2:0 YUV at `fps`: a moving gradient.
void write_y4m(const fs::path& path, int width, int height, int frames, int fps) {
  std::ofstream out(path, std::ios::binary);
  out << "YUV4MPEG2 W" << width << " H" << height << " F" << fps << ":1 Ip A1:1 C420jpeg\n";
  for (int f = 0; f < frames; ++f) {
    out << "FRAME\n";
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) out.put(static_cast<char>((x * 3 + y * 2 + f * 8) % 220 + 16));
    }
    for (int plane = 0; plane < 2; ++plane) {
      for (int i = 0; i < (width / 2) * (height / 2); ++i)
        out.put(static_cast<char>(plane == 0 ? 100 + f : 150 - f));
    }
  }
}

void put_le(std::ofstream& out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.put(static_cast<char>((value >> (8 * i)) & 0xff));
}

// 16-bit stereo PCM: a 440 Hz tone.
void write_wav(const fs::path& path, int sample_rate, double seconds) {
  const auto samples = static_cast<uint32_t>(sample_rate * seconds);
  std::ofstream out(path, std::ios::binary);
  out << "RIFF";
  put_le(out, 36 + samples * 4, 4);
  out << "WAVEfmt ";
  put_le(out, 16, 4);
  put_le(out, 1, 2);  // PCM
  put_le(out, 2, 2);  // stereo
  put_le(out, static_cast<uint32_t>(sample_rate), 4);
  put_le(out, static_cast<uint32_t>(sample_rate) * 4, 4);
  put_le(out, 4, 2);
  put_le(out, 16, 2);
  out << "data";
  put_le(out, samples * 4, 4);
  for (uint32_t n = 0; n < samples; ++n) {
    const auto value = static_cast<int16_t>(12000 * std::sin(2 * M_PI * 440.0 * n / sample_rate));
    put_le(out, static_cast<uint16_t>(value), 2);
    put_le(out, static_cast<uint16_t>(value), 2);
  }
}

// In `dir`: reference.y4m (64x64, 12 frames at 24 fps) and lora.safetensors, a rank-2 LoRA on one video
// self-attention projection of the tiny model (video width 32), trained at d = 2.
void write_infer_inputs(const testing::TempDir& dir) {
  write_y4m(dir / "reference.y4m", 64, 64, 12, 24);
  torch::manual_seed(3);
  core::write_tensors(
      dir / "lora.safetensors",
      {{"diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight", torch::randn({2, 32}) * 0.1},
       {"diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight", torch::randn({32, 2}) * 0.1}},
      {{"reference_downscale_factor", "2"},
       {"reference_spatial_scale_factor", "2"},
       {"ss_reference_downscale_factor", "2"}});
}

// `avtrain ARGS...` run to its end with the tiny model cached in `dir`: exit code, stdout, stderr.
struct Finished {
  int exit_code;
  std::string out, err;
};
Finished run_avtrain(const testing::TempDir& dir, const std::string& name,
                     const std::vector<std::string>& arguments) {
  std::vector<std::string> argv{testing::avtrain_binary().string()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  testing::ChildProcess process(argv, {{"AVTRAIN_CACHE_DIR", (dir / "cache").string()}},
                                dir / (name + ".stdout"), dir / (name + ".stderr"));
  const int exit_code = process.exit_code();
  return {exit_code, process.out(), process.err()};
}

TEST(InferCommand, TinyModelWritesTheRequestedClipAndMirrorsTheLorasReferenceScaling) {
  const auto binary = testing::avtrain_binary();
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " was not built (AVTRAIN_WITH_SERVICE off)";
  const testing::TempDir dir("avtrain-infer");
  write_infer_inputs(dir);
  write_wav(dir / "reference.wav", 16000, 0.5);
  const std::vector<std::string> infer = {"infer",
                                          "--model",
                                          "tiny",
                                          "--text-encoder",
                                          "tiny",
                                          "--lora",
                                          (dir / "lora.safetensors").string(),
                                          "--reference-video",
                                          (dir / "reference.y4m").string(),
                                          "--reference-audio",
                                          (dir / "reference.wav").string(),
                                          "--prompt",
                                          "a gradient that moves",
                                          "--frames",
                                          "9",
                                          "--fps",
                                          "24",
                                          "--resolution",
                                          "128x64",
                                          "--steps",
                                          "2",
                                          "--device",
                                          "cpu"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> arguments = infer;
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    return arguments;
  };
  const auto run = run_avtrain(dir, "infer", with({"--out", (dir / "out.mp4").string()}));
  const auto& log = run.err;
  ASSERT_EQ(run.exit_code, 0) << log;
  // d = 2 from the metadata: the reference is fitted at 64 x 32 and its positions scaled by 2.
  EXPECT_NE(log.find("9 frames of 64x32"), std::string::npos) << log;
  EXPECT_NE(log.find("d = 2"), std::string::npos) << log;
  EXPECT_NE(log.find("fused into 1 layers"), std::string::npos) << log;
  EXPECT_EQ(log.find("differs from the LoRA"), std::string::npos) << log;

  const auto probe_run = run_avtrain(dir, "probe", {"media", "probe", (dir / "out.mp4").string()});
  const auto& probe_text = probe_run.out;
  ASSERT_EQ(probe_run.exit_code, 0) << probe_text << probe_run.err;
  const auto probe = nlohmann::json::parse(probe_text);
  EXPECT_EQ(probe["video"]["codec"], "h264");
  EXPECT_EQ(probe["video"]["width"], 128);
  EXPECT_EQ(probe["video"]["height"], 64);
  EXPECT_EQ(probe["video"]["frame_count"], 9);
  ASSERT_TRUE(probe["audio"]["present"].get<bool>()) << probe_text;
  EXPECT_EQ(probe["audio"]["codec"], "aac");
  EXPECT_EQ(probe["audio"]["sample_rate"], 48000);
  EXPECT_EQ(probe["audio"]["channels"], 2);
  // round(25 * 9 / 24) = 9 audio latents -> 33 mel frames of 10 ms (AAC adds at most a frame of padding).
  EXPECT_NEAR(probe["audio"]["duration"].get<double>(), 0.33, 0.03) << probe_text;

  // Overriding the LoRA's factor is allowed but warned about.
  const auto override_run = run_avtrain(
      dir, "override", with({"--reference-downscale-factor", "1", "--out", (dir / "override.mp4").string()}));
  const auto& log_override = override_run.err;
  ASSERT_EQ(override_run.exit_code, 0) << log_override;
  EXPECT_NE(log_override.find("differs from the LoRA"), std::string::npos) << log_override;
  EXPECT_NE(log_override.find("9 frames of 128x64"), std::string::npos) << log_override;
}

TEST(InferCommand, OptionsThatCannotWorkAreRefusedNamingTheOption) {
  const auto binary = testing::avtrain_binary();
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " was not built (AVTRAIN_WITH_SERVICE off)";
  const testing::TempDir dir("avtrain-infer-options");
  write_infer_inputs(dir);
  const std::vector<std::string> base = {"infer",
                                         "--model",
                                         "tiny",
                                         "--text-encoder",
                                         "tiny",
                                         "--lora",
                                         (dir / "lora.safetensors").string(),
                                         "--reference-video",
                                         (dir / "reference.y4m").string(),
                                         "--prompt",
                                         "p",
                                         "--device",
                                         "cpu",
                                         "--out",
                                         (dir / "out.mp4").string()};
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--resolution", "huge"}, "--resolution huge: use low, medium, high or WxH"},
      {{"--resolution", "low", "--aspect-ratio", "4:3"}, "--aspect-ratio 4:3: use 16:9, 1:1 or 9:16"},
      {{"--frames", "5"}, "--frames 5: at least 9"},
      {{"--fps", "0"}, "--fps 0: must be positive"},
      {{"--steps", "1"}, "--steps 1: at least 2"},
      {{"--resolution", "100x64"}, "must be multiples of 32"},
      {{"--dtype", "fp16"}, "--dtype fp16: use auto, bfloat16 or float32"},
      {{"--reference-downscale-factor", "9"}, "--reference-downscale-factor 9: use 1..8"},
      // The LoRA's d = 2 does not divide 96x64 into multiples of 32; S = 3 does not divide 9 - 1 frames.
      {{"--resolution", "96x64"}, "reference downscale factor 2 does not fit 96x64"},
      {{"--resolution", "128x64", "--reference-temporal-scale-factor", "3"},
       "reference temporal scale factor 3 does not fit 9 frames"},
  };
  for (const auto& [extra, expected] : cases) {
    std::vector<std::string> arguments = base;
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    // 9 frames at 64x64 where the case does not say otherwise.
    for (const auto& [option, value] : {std::pair{"--frames", "9"}, {"--resolution", "64x64"}}) {
      if (std::find(extra.begin(), extra.end(), option) == extra.end())
        arguments.insert(arguments.end(), {option, value});
    }
    const auto run = run_avtrain(dir, "refused", arguments);
    EXPECT_EQ(run.exit_code, 2) << expected << "\n" << run.err;
    EXPECT_NE(run.err.find(expected), std::string::npos) << expected << "\n" << run.err;
    EXPECT_FALSE(fs::exists(dir / "out.mp4")) << expected;
  }
}

}  // namespace
}  // namespace avtrain::sample
