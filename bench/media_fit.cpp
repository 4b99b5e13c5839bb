// Decode + fit of a 10 s 1920x1080 30 fps H.264 clip to 768x768x89 at 24 fps (issue 4), against the
// ffmpeg command line doing the same fps + scale + crop into rawvideo. Prints both times and the ratio.
//
//   bench_media_fit [--runs N] [--clip PATH]   (the clip is generated once into the temp folder)
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "media/probe.h"
#include "media/test_media.h"
#include "media/video_fit.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace avtrain::media;
  int runs = 3;
  std::filesystem::path clip = std::filesystem::temp_directory_path() / "avtrain_bench_1080p30_10s.mp4";
  for (int arg = 1; arg + 1 < argc; arg += 2) {
    const std::string name = argv[arg];
    if (name == "--runs") runs = std::max(1, std::atoi(argv[arg + 1]));
    if (name == "--clip") clip = argv[arg + 1];
  }
  if (!std::filesystem::exists(clip)) {
    const auto start = Clock::now();
    TestClipOptions options;
    options.width = 1920;
    options.height = 1080;
    options.fps = 30;
    options.frames = 300;
    options.click_frame = 30;
    write_test_clip(clip, options);
    std::cerr << "generated " << clip << " in " << seconds_since(start) << " s\n";
  }
  const MediaInfo info = probe(clip);
  std::cout << "clip: " << clip.string() << " " << info.video.width << "x" << info.video.height << " "
            << info.video.codec << " " << info.video.fps << " fps, " << info.video.duration << " s\n";

  const VideoFitOptions fit{768, 768, 89, 24.0};
  const FillGeometry geometry = fill_geometry(info.video.display_width, info.video.display_height, 768, 768);
  // The same work for the ffmpeg CLI: fps first (it drops frames before scaling, as fit_video does),
  // bicubic resize to fill, centre crop, rgb24 rawvideo.
  const std::string filter =
      fmt::format("fps=24,scale={}:{}:flags=bicubic,crop=768:768:{}:{}", geometry.scaled_width,
                  geometry.scaled_height, geometry.left, geometry.top);
  const std::string command = fmt::format(
      "ffmpeg -v error -nostdin -y -i '{}' -vf '{}' -frames:v 89 -pix_fmt rgb24 -f rawvideo /dev/null",
      clip.string(), filter);

  std::vector<double> ours, theirs;
  for (int run = 0; run < runs; ++run) {
    auto start = Clock::now();
    const VideoFrames frames = fit_video(clip, fit);
    ours.push_back(seconds_since(start));
    if (frames.frame_count() != 89 || read_frame_index(frames.frame(88), 768, 768) != 110) {
      std::cerr << "fit_video returned wrong frames\n";
      return 1;
    }
    start = Clock::now();
    if (std::system(command.c_str()) != 0) {
      std::cerr << "ffmpeg failed: " << command << "\n";
      return 1;
    }
    theirs.push_back(seconds_since(start));
  }
  const double a = median(ours), b = median(theirs);
  std::cout << fmt::format("{:<44} {:>10}\n", "decode + fit 1920x1080x300 -> 768x768x89 @24", "median s");
  std::cout << fmt::format("{:<44} {:>10.3f}\n", "avtrain fit_video (libav*)", a);
  std::cout << fmt::format("{:<44} {:>10.3f}\n", "ffmpeg CLI (" + filter + ")", b);
  std::cout << fmt::format("{:<44} {:>10.2f}\n", "ratio avtrain / ffmpeg", a / b);
  return 0;
}
