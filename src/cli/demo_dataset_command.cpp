// avtrain demo-dataset --out DIR [--pairs 3] [--size 96] [--seconds 1.5]: writes the demo's synthetic
// training set (issue 12) with the test-media generator, no external tool needed:
//   DIR/pairs/<name>_start.mp4, <name>_end.mp4, <name>.txt   the clip pairs and their captions
//   DIR/pairs.zip                                            the same files, the job's training archive
//   DIR/request.json                                         the demo's training request (file:// URLs)
// Each reference is a moving scene in a hue of its own with a tone of its own; its target is the same
// scene with inverted colours and the tone an octave up, a transformation one can see and hear in the
// validation reel. Same arguments, same pictures and tones.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "dataset/zip_writer.h"
#include "media/test_media.h"
#include "service/job.h"
#include "service/request/resource_location.h"
#include "service/request/training_request.h"

namespace avtrain::cli {
namespace {

namespace fs = std::filesystem;

struct DemoDatasetArguments {
  std::string out;
  int pairs = 3;
  int size = 96;
  double seconds = 1.5;
};

constexpr double kFps = 24;
constexpr int kSampleRate = 44100;
constexpr double kBaseToneHz = 220;  // pair k: 220 + 110 k Hz (220, 330, 440, ...); its target twice that
constexpr double kToneStepHz = 110;
constexpr const char* kCaption = "a moving test pattern with a steady tone";
constexpr const char* kTriggerPhrase = "inverted";

struct Rgb {
  double r, g, b;  // 0..1
};

Rgb hsv(double hue_degrees, double saturation, double value) {
  const double h = std::fmod(std::fmod(hue_degrees, 360.0) + 360.0, 360.0) / 60.0;
  const double c = value * saturation;
  const double x = c * (1 - std::abs(std::fmod(h, 2.0) - 1));
  const double m = value - c;
  const int sector = static_cast<int>(h);
  const Rgb base = sector == 0   ? Rgb{c, x, 0}
                   : sector == 1 ? Rgb{x, c, 0}
                   : sector == 2 ? Rgb{0, c, x}
                   : sector == 3 ? Rgb{0, x, c}
                   : sector == 4 ? Rgb{x, 0, c}
                                 : Rgb{c, 0, x};
  return {base.r + m, base.g + m, base.b + m};
}

uint8_t to_byte(double level) { return static_cast<uint8_t>(std::lround(std::clamp(level, 0.0, 1.0) * 255)); }

// One pair's scene: diagonal bands of the pair's hue drifting across the picture, a pale disc of the
// opposite hue circling the centre once per clip, and the test pattern's frame-index grid (test_media.h)
// in the top-left corner, so that every frame of the clip (and of the preprocessed and generated
// clips) can be told apart. `inverted`: every channel v becomes 255 - v.
struct Scene {
  int size = 96;
  int frames = 36;
  double hue = 0;
  bool inverted = false;
};

std::vector<uint8_t> draw_scene(const Scene& scene, int frame_idx) {
  const int size = scene.size;
  const double phase = static_cast<double>(frame_idx) / scene.frames;  // 0..1 over the clip
  const double angle = 2 * std::numbers::pi * phase;
  const double disc_x = size * (0.5 + 0.3 * std::cos(angle)), disc_y = size * (0.5 + 0.3 * std::sin(angle));
  const double disc_radius = size / 7.0;
  const Rgb disc = hsv(scene.hue + 180, 0.35, 1.0);

  std::vector<uint8_t> rgb(static_cast<size_t>(size) * size * 3);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const double band = std::sin(2 * std::numbers::pi * (2.0 * (x + y) / size - phase * 2));
      Rgb colour = hsv(scene.hue, 0.75, 0.55 + 0.3 * band);
      if (std::hypot(x + 0.5 - disc_x, y + 0.5 - disc_y) < disc_radius) colour = disc;
      uint8_t* pixel = rgb.data() + (static_cast<size_t>(y) * size + x) * 3;
      pixel[0] = to_byte(colour.r);
      pixel[1] = to_byte(colour.g);
      pixel[2] = to_byte(colour.b);
    }
  }

  media::TestClipOptions grid;
  grid.width = grid.height = std::max(8, size / 4);
  const auto pattern = media::draw_test_frame(grid, frame_idx);
  for (int y = 0; y < grid.height; ++y) {
    std::copy_n(pattern.data() + static_cast<size_t>(y) * grid.width * 3, grid.width * 3,
                rgb.data() + static_cast<size_t>(y) * size * 3);
  }

  if (scene.inverted) {
    for (auto& value : rgb) value = static_cast<uint8_t>(255 - value);
  }
  return rgb;
}

// The demo's request (scripts/demo.sh trains it with the --demo-* sizes of the tiny model): rank 8,
// 200 steps, one validation sample on the reference of the second pair (the first when there is one
// pair), a preview every 100 steps, and the debug dataset.
nlohmann::ordered_json demo_request(const fs::path& archive, const fs::path& validation_reference) {
  nlohmann::ordered_json request;
  request["training_data_url"] = service::file_url(archive);
  request["trigger_phrase"] = kTriggerPhrase;
  request["rank"] = 8;
  request["number_of_steps"] = 200;
  request["learning_rate"] = 0.001;
  request["number_of_frames"] = 17;
  request["resolution"] = "low";
  request["validation"] =
      nlohmann::ordered_json::array({{{"prompt", fmt::format("{} {}", kTriggerPhrase, kCaption)},
                                      {"reference_video_url", service::file_url(validation_reference)}}});
  request["validation_interval"] = 100;
  request["validation_number_of_frames"] = 17;
  request["validation_resolution"] = "low";
  request["debug_dataset"] = true;
  return request;
}

int write_demo_dataset(const DemoDatasetArguments& args) {
  if (args.size % 2 != 0) {
    throw core::InvalidInput(fmt::format("--size {}: H.264 needs an even size; use {} or {}", args.size,
                                         args.size - 1, args.size + 1));
  }
  const fs::path out = fs::absolute(args.out).lexically_normal();
  const fs::path pairs_dir = out / "pairs";
  std::error_code error;
  fs::remove_all(pairs_dir, error);  // a rerun with fewer pairs must not leave the old ones behind
  if (!error) fs::create_directories(pairs_dir, error);
  if (error) {
    throw core::InvalidInput(fmt::format("cannot create {}: {}; choose an --out folder you can write to",
                                         pairs_dir.string(), error.message()));
  }

  media::TestClipOptions clip;
  clip.width = clip.height = args.size;
  clip.fps = kFps;
  clip.frames = std::max(1, static_cast<int>(std::lround(args.seconds * kFps)));
  clip.channels = 2;
  clip.sample_rate = kSampleRate;

  auto& log = core::logger("cli");
  std::vector<fs::path> files;
  std::vector<std::string> descriptions;
  for (int pair_idx = 0; pair_idx < args.pairs; ++pair_idx) {
    const std::string name = fmt::format("pair{}", pair_idx);
    Scene scene{args.size, clip.frames, 360.0 * pair_idx / args.pairs, false};
    const double tone_hz = kBaseToneHz + kToneStepHz * pair_idx;

    clip.tone_hz = tone_hz;
    files.push_back(pairs_dir / (name + "_start.mp4"));
    media::write_test_clip(files.back(), clip, [&](int frame_idx) { return draw_scene(scene, frame_idx); });

    scene.inverted = true;
    clip.tone_hz = 2 * tone_hz;  // an octave up
    files.push_back(pairs_dir / (name + "_end.mp4"));
    media::write_test_clip(files.back(), clip, [&](int frame_idx) { return draw_scene(scene, frame_idx); });

    files.push_back(pairs_dir / (name + ".txt"));
    std::ofstream caption(files.back());
    if (!(caption << kCaption << "\n").flush()) {
      throw core::InvalidInput(
          fmt::format("cannot write {}; choose an --out folder you can write to", files.back().string()));
    }
    descriptions.push_back(fmt::format("{} (hue {:.0f}, {:.0f} Hz -> inverted, {:.0f} Hz)", name, scene.hue,
                                       tone_hz, 2 * tone_hz));
  }
  const fs::path archive = out / "pairs.zip";
  dataset::ArchiveMembers members;
  for (const auto& file : files) members.emplace_back(file.filename().string(), file);
  dataset::write_zip(archive, members);

  const fs::path request_file = out / "request.json";
  const auto request =
      demo_request(archive, pairs_dir / fmt::format("pair{}_start.mp4", std::min(1, args.pairs - 1)));
  // The request must pass the contract the train command applies (a change there shows here first).
  service::parse_training_request(request.dump(), service::LocalFilePolicy::allow_any());
  service::write_file_atomically(request_file, request.dump(2) + "\n");
  log.info("demo dataset: {} pairs of {}x{}, {} frames at {} fps ({:.2f} s), in {}", args.pairs, args.size,
           args.size, clip.frames, kFps, media::test_clip_duration(clip), out.string());

  std::cout << fmt::format("{}/\n", pairs_dir.string());
  for (const auto& description : descriptions) std::cout << "  " << description << "\n";
  std::cout << fmt::format("{}  {} bytes\n{}\n", archive.string(), fs::file_size(archive),
                           request_file.string());
  std::cout << fmt::format("use: avtrain train {} --out {} --model tiny --text-encoder tiny\n",
                           request_file.string(), (out / "job").string());
  return 0;
}

Action add_demo_dataset(CLI::App& command) {
  auto args = std::make_shared<DemoDatasetArguments>();
  command.add_option("--out", args->out, "folder to write pairs/, pairs.zip and request.json into")
      ->required();
  command.add_option("--pairs", args->pairs, "number of clip pairs")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  command.add_option("--size", args->size, "width and height of the clips, pixels (even)")
      ->check(CLI::Range(16, 1024))
      ->capture_default_str();
  command.add_option("--seconds", args->seconds, "duration of each clip at 24 fps")
      ->check(CLI::Range(0.1, 60.0))
      ->capture_default_str();
  return [args] { return write_demo_dataset(*args); };
}

const bool registered = register_command(
    {"demo-dataset",
     "Write the demo's synthetic dataset: clip pairs whose target inverts the colours and raises the tone an "
     "octave, their zip, and a training request for it",
     add_demo_dataset});

}  // namespace
}  // namespace avtrain::cli
