#include "media/test_media.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <numbers>

#include "core/error.h"
#include "media/media_encoder.h"

namespace avtrain::media {
namespace {

constexpr int kGrid = 4;
constexpr int kIndexBits = 12;
constexpr uint8_t kWhite = 255, kBlack = 0, kGrey = 128;

struct Square {
  int left, top, side;
};
Square grid_square(int width, int height) {
  const int side = std::min(width, height);
  return {(width - side) / 2, (height - side) / 2, side};
}

// Mean luminance of the central half of grid cell `cell`.
double cell_level(const uint8_t* rgb, int width, int height, int cell) {
  const Square square = grid_square(width, height);
  const double cell_side = static_cast<double>(square.side) / kGrid;
  const int row = cell / kGrid, col = cell % kGrid;
  const int x0 = square.left + static_cast<int>(std::floor((col + 0.25) * cell_side));
  const int x1 = std::max(x0 + 1, square.left + static_cast<int>(std::ceil((col + 0.75) * cell_side)));
  const int y0 = square.top + static_cast<int>(std::floor((row + 0.25) * cell_side));
  const int y1 = std::max(y0 + 1, square.top + static_cast<int>(std::ceil((row + 0.75) * cell_side)));
  double sum = 0;
  int count = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = rgb + (static_cast<size_t>(y) * width + x) * 3;
      sum += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
      ++count;
    }
  }
  return sum / count;
}

bool cell_lit(const uint8_t* rgb, int width, int height, int cell) {
  return cell_level(rgb, width, height, cell) > 128;
}

std::string encoder_for(const std::filesystem::path& path, const std::string& codec) {
  std::string name = codec;
  if (name.empty()) {
    const auto extension = path.extension().string();
    name = extension == ".webm" ? "vp9" : extension == ".avi" ? "mpeg4" : "h264";
  }
  if (name == "h264") return "libx264";
  if (name == "vp9") return "libvpx-vp9";
  if (name == "mpeg4") return "mpeg4";
  throw core::InvalidInput("test clip video codec '" + codec + "' is not one of h264, vp9, mpeg4");
}

std::string audio_encoder_for(const std::filesystem::path& path) {
  const auto extension = path.extension().string();
  if (extension == ".webm") return "libvorbis";
  if (extension == ".avi") return "pcm_s16le";
  return "aac";
}

}  // namespace

std::vector<double> test_clip_frame_times(const TestClipOptions& options) {
  std::vector<double> times(options.frames);
  double time = 0;
  for (int frame_idx = 0; frame_idx < options.frames; ++frame_idx) {
    times[frame_idx] = time;
    // Ticks of 1 / (10 fps): 6 and 14 ticks alternate for variable frame rate, 10 otherwise.
    const int ticks = options.variable_frame_rate ? (frame_idx % 2 == 0 ? 6 : 14) : 10;
    time += ticks / (10.0 * options.fps);
  }
  return times;
}

double test_clip_duration(const TestClipOptions& options) {
  if (options.frames == 0) return 0;
  const auto times = test_clip_frame_times(options);
  const int last_ticks = options.variable_frame_rate ? ((options.frames - 1) % 2 == 0 ? 6 : 14) : 10;
  return times.back() + last_ticks / (10.0 * options.fps);
}

std::vector<uint8_t> draw_test_frame(const TestClipOptions& options, int frame_idx) {
  const int width = options.width, height = options.height;
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3, kGrey);
  const Square square = grid_square(width, height);
  const bool flash = options.click_frame >= 0 && frame_idx >= options.click_frame &&
                     frame_idx < options.click_frame + options.flash_frames;
  for (int cell = 0; cell < kGrid * kGrid; ++cell) {
    bool lit = false;
    if (cell < kIndexBits)
      lit = (frame_idx >> cell) & 1;
    else if (cell < 14)
      lit = flash;
    else
      lit = cell == 14;
    const int row = cell / kGrid, col = cell % kGrid;
    const int x0 = square.left + col * square.side / kGrid,
              x1 = square.left + (col + 1) * square.side / kGrid;
    const int y0 = square.top + row * square.side / kGrid, y1 = square.top + (row + 1) * square.side / kGrid;
    for (int y = y0; y < y1; ++y) {
      std::fill_n(rgb.data() + (static_cast<size_t>(y) * width + x0) * 3, (x1 - x0) * 3,
                  lit ? kWhite : kBlack);
    }
  }
  return rgb;
}

AudioBuffer make_test_audio(const TestClipOptions& options) {
  const int rate = options.sample_rate;
  const auto length = static_cast<int64_t>(std::llround(test_clip_duration(options) * rate));
  AudioBuffer audio{rate, options.channels,
                    std::vector<float>(static_cast<size_t>(length) * options.channels)};
  const double click_start =
      options.click_frame >= 0 ? test_clip_frame_times(options).at(options.click_frame) : -1.0;
  for (int64_t n = 0; n < length; ++n) {
    const double t = static_cast<double>(n) / rate;
    double value = options.tone_amplitude * std::sin(2 * std::numbers::pi * options.tone_hz * t);
    if (click_start >= 0 && t >= click_start && t < click_start + kClickSeconds) {
      value += kClickAmplitude * std::sin(2 * std::numbers::pi * kClickHz * (t - click_start));
    }
    for (int channel = 0; channel < options.channels; ++channel)
      audio.channel(channel)[n] = static_cast<float>(value);
  }
  return audio;
}

void write_test_clip(const std::filesystem::path& path, const TestClipOptions& options) {
  write_test_clip(path, options, [&](int frame_idx) { return draw_test_frame(options, frame_idx); });
}

void write_test_clip(const std::filesystem::path& path, const TestClipOptions& options,
                     const TestFrameDrawer& draw) {
  const int rotation = ((options.rotation % 360) + 360) % 360;
  if (rotation % 90 != 0)
    throw core::InvalidInput("test clip rotation must be a multiple of 90, got " +
                             std::to_string(options.rotation));
  const bool swapped = rotation == 90 || rotation == 270;
  const int coded_width = swapped ? options.height : options.width;
  const int coded_height = swapped ? options.width : options.height;
  EncoderSettings settings;
  settings.video_codec = encoder_for(path, options.video_codec);
  settings.width = coded_width;
  settings.height = coded_height;
  settings.fps = options.fps;
  settings.preset = "veryfast";
  settings.time_base_denominator =
      options.variable_frame_rate ? static_cast<int>(std::lround(options.fps * 10)) : 0;
  settings.rotation = rotation;
  settings.faststart = options.faststart;
  settings.audio = options.audio;
  settings.audio_codec = audio_encoder_for(path);
  settings.sample_rate = options.sample_rate;
  settings.channels = options.channels;
  MediaEncoder encoder(path, settings);

  const auto times = test_clip_frame_times(options);
  std::vector<uint8_t> coded(static_cast<size_t>(coded_width) * coded_height * 3);
  for (int frame_idx = 0; frame_idx < options.frames; ++frame_idx) {
    const auto display = draw(frame_idx);
    if (display.size() != static_cast<size_t>(options.width) * options.height * 3) {
      throw core::InternalError("test clip " + path.string() + ": frame " + std::to_string(frame_idx) +
                                " has " + std::to_string(display.size()) + " bytes, expected " +
                                std::to_string(options.width) + "x" + std::to_string(options.height) +
                                " RGB8 (" + std::to_string(options.width * options.height * 3) + ")");
    }
    const uint8_t* frame = display.data();
    if (rotation != 0) {
      // Store the picture turned back, so that a player turning it by `rotation` shows it upright.
      for (int cy = 0; cy < coded_height; ++cy) {
        for (int cx = 0; cx < coded_width; ++cx) {
          int x = cx, y = cy;
          if (rotation == 90) {
            x = coded_height - 1 - cy;
            y = cx;
          } else if (rotation == 180) {
            x = coded_width - 1 - cx;
            y = coded_height - 1 - cy;
          } else {
            x = cy;
            y = coded_width - 1 - cx;
          }
          std::copy_n(display.data() + (static_cast<size_t>(y) * options.width + x) * 3, 3,
                      coded.data() + (static_cast<size_t>(cy) * coded_width + cx) * 3);
        }
      }
      frame = coded.data();
    }
    const int64_t pts =
        options.variable_frame_rate ? std::llround(times[frame_idx] * options.fps * 10) : frame_idx;
    encoder.add_video_frame(frame, pts);
  }
  if (options.audio) encoder.add_audio(make_test_audio(options));
  encoder.finish();
}

void write_test_audio(const std::filesystem::path& path, const TestClipOptions& options) {
  const auto extension = path.extension().string();
  EncoderSettings settings;
  settings.video_codec.clear();
  settings.audio = true;
  settings.audio_codec = extension == ".wav"    ? "pcm_s16le"
                         : extension == ".mp3"  ? "libmp3lame"
                         : extension == ".m4a"  ? "aac"
                         : extension == ".flac" ? "flac"
                         : extension == ".ogg"  ? "libvorbis"
                                                : "";
  if (settings.audio_codec.empty()) {
    throw core::InvalidInput("test audio " + path.string() + ": use .wav, .mp3, .m4a, .flac or .ogg");
  }
  settings.sample_rate = options.sample_rate;
  settings.channels = options.channels;
  MediaEncoder encoder(path, settings);
  encoder.add_audio(make_test_audio(options));
  encoder.finish();
}

std::optional<int> read_frame_index(const uint8_t* rgb, int width, int height) {
  if (!cell_lit(rgb, width, height, 14) || cell_lit(rgb, width, height, 15)) return std::nullopt;
  int index = 0;
  for (int bit = 0; bit < kIndexBits; ++bit) {
    if (cell_lit(rgb, width, height, bit)) index |= 1 << bit;
  }
  return index;
}

bool flash_visible(const uint8_t* rgb, int width, int height) {
  return cell_lit(rgb, width, height, 12) && cell_lit(rgb, width, height, 13);
}

void write_wiped_mp4(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  const size_t type = bytes.find("mdat");
  if (type == std::string::npos || type < 4) throw core::InternalError(from.string() + " holds no mdat box");
  size_t box_size = 0;
  for (size_t at = type - 4; at < type; ++at)
    box_size = box_size << 8 | static_cast<unsigned char>(bytes[at]);
  for (size_t at = type + 4; at < type - 4 + box_size && at < bytes.size(); ++at) bytes[at] = '\0';
  std::ofstream(to, std::ios::binary) << bytes;
}

}  // namespace avtrain::media
