#include "media/video_fit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "media/ffmpeg_handles.h"
#include "media/frame_resize.h"
#include "media/probe.h"
#include "media/stream_selection.h"

namespace avtrain::media {
namespace {

// Container timestamps are rounded to their time base (Matroska: milliseconds): a frame whose stored time
// is within half a tick of an output instant counts as on screen at it. Capped, because some time bases
// are one frame (AVI) and their timestamps are exact.
double timestamp_tolerance(AVRational time_base) { return std::min(0.5 * av_q2d(time_base), 0.0005) + 1e-6; }
constexpr double kDurationTolerance = 1e-3;

std::string seconds_text(double seconds) { return fmt::format("{:.3f} s", seconds); }

void check_options(const VideoFitOptions& options) {
  if (options.width <= 0 || options.height <= 0 || options.frames <= 0 || options.fps <= 0) {
    throw core::InvalidInput(
        fmt::format("video fit needs a positive size, frame count and fps; got {}x{}, {} frames "
                    "at {} fps",
                    options.width, options.height, options.frames, options.fps));
  }
}

// Turns decoded pictures into fitted output frames: scale (in the coded orientation) to the fill size,
// then copy the display-space crop window, rotating on the way (DECISIONS.md §12, §17).
class FrameFitter {
 public:
  FrameFitter(const VideoFitOptions& options, int rotation) : options_(options), rotation_(rotation) {}

  void fit(const AVFrame& frame, uint8_t* out) {
    prepare(frame);
    const int scaled_status = sws_scale_frame(scaler_.get(), scaled_.get(), &frame);
    if (scaled_status < 0) throw core::InternalError("swscale failed: " + ffmpeg_error(scaled_status));
    const uint8_t* base = scaled_->data[0];
    const int stride = scaled_->linesize[0];
    const int width = options_.width, height = options_.height;
    const int coded_width = scaled_->width, coded_height = scaled_->height;
    if (rotation_ == 0) {
      for (int y = 0; y < height; ++y) {
        std::memcpy(out + static_cast<size_t>(y) * width * 3,
                    base + static_cast<size_t>(geometry_.top + y) * stride + geometry_.left * 3, width * 3);
      }
      return;
    }
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        const int display_x = geometry_.left + x, display_y = geometry_.top + y;
        int coded_x = display_x, coded_y = display_y;
        if (rotation_ == 90) {  // display = coded turned clockwise
          coded_x = display_y;
          coded_y = coded_height - 1 - display_x;
        } else if (rotation_ == 180) {
          coded_x = coded_width - 1 - display_x;
          coded_y = coded_height - 1 - display_y;
        } else {  // 270
          coded_x = coded_width - 1 - display_y;
          coded_y = display_x;
        }
        std::memcpy(out + (static_cast<size_t>(y) * width + x) * 3,
                    base + static_cast<size_t>(coded_y) * stride + coded_x * 3, 3);
      }
    }
  }

 private:
  void prepare(const AVFrame& frame) {
    if (scaler_ && frame.width == source_width_ && frame.height == source_height_ &&
        frame.format == source_format_) {
      return;
    }
    source_width_ = frame.width;
    source_height_ = frame.height;
    source_format_ = frame.format;
    const bool swapped = rotation_ == 90 || rotation_ == 270;
    const int display_width = swapped ? frame.height : frame.width;
    const int display_height = swapped ? frame.width : frame.height;
    geometry_ = fill_geometry(display_width, display_height, options_.width, options_.height);
    const int coded_width = swapped ? geometry_.scaled_height : geometry_.scaled_width;
    const int coded_height = swapped ? geometry_.scaled_width : geometry_.scaled_height;
    scaler_ =
        create_scaler(frame.width, frame.height, frame.format, coded_width, coded_height, AV_PIX_FMT_RGB24);
    scaled_ = make_frame();
    scaled_->format = AV_PIX_FMT_RGB24;
    scaled_->width = coded_width;
    scaled_->height = coded_height;
    if (av_frame_get_buffer(scaled_.get(), 0) < 0) throw std::bad_alloc();
  }

  VideoFitOptions options_;
  int rotation_ = 0;
  int source_width_ = 0, source_height_ = 0, source_format_ = -1;
  FillGeometry geometry_;
  ScalerPtr scaler_;
  FramePtr scaled_;
};

}  // namespace

FillGeometry fill_geometry(int source_width, int source_height, int width, int height) {
  FillGeometry g;
  // trainer.md §1.3: a wider source scales to height H, otherwise to width W; sizes truncate.
  if (static_cast<int64_t>(source_width) * height > static_cast<int64_t>(width) * source_height) {
    g.scaled_height = height;
    g.scaled_width =
        std::max(width, static_cast<int>(static_cast<int64_t>(source_width) * height / source_height));
  } else {
    g.scaled_width = width;
    g.scaled_height =
        std::max(height, static_cast<int>(static_cast<int64_t>(source_height) * width / source_width));
  }
  g.left = (g.scaled_width - width) / 2;
  g.top = (g.scaled_height - height) / 2;
  return g;
}

double source_time(int frame_idx, const VideoFitOptions& options, double clip_duration) {
  return options.auto_scale ? frame_idx * clip_duration / options.frames : frame_idx / options.fps;
}

VideoFrames fit_video(const std::filesystem::path& path, const VideoFitOptions& options,
                      core::Progress* progress) {
  check_options(options);
  const MediaInfo info = probe(path);
  const double needed = options.frames / options.fps;
  if (!options.auto_scale && info.video.duration + kDurationTolerance < needed) {
    throw core::InvalidInput(
        fmt::format("{}: its video lasts {} ({} frames at {:.3g} fps); {} frames at {} fps need {}. Use a "
                    "longer clip, fewer "
                    "frames, or auto_scale_input to fit the whole clip.",
                    path.string(), seconds_text(info.video.duration), info.video.frame_count, info.video.fps,
                    options.frames, options.fps, seconds_text(needed)));
  }

  auto input = open_input(path);
  const int video_idx = find_video_stream(*input, path);
  for (unsigned stream_idx = 0; stream_idx < input->nb_streams; ++stream_idx) {
    if (static_cast<int>(stream_idx) != video_idx) input->streams[stream_idx]->discard = AVDISCARD_ALL;
  }
  const AVStream& stream = *input->streams[video_idx];
  auto decoder = open_decoder(stream, path);

  VideoFrames out{options.width, options.height, options.fps, {}};
  out.rgb.resize(out.frame_bytes() * options.frames);
  FrameFitter fitter(options, info.video.rotation);
  const double origin = info.video.start_time;
  const double source_frame_duration = info.video.fps > 0 ? 1.0 / info.video.fps : 1.0 / 24;
  const double tolerance = timestamp_tolerance(stream.time_base);

  auto held = make_frame();
  bool have_held = false;
  int64_t held_serial = -1, fitted_serial = -1, serial = 0;
  double last_time = -1;
  int next = 0;
  const auto emit = [&](const AVFrame& frame, int64_t frame_serial) {
    if (frame_serial == fitted_serial) {
      std::memcpy(out.frame(next), out.frame(next - 1), out.frame_bytes());
    } else {
      fitter.fit(frame, out.frame(next));
      fitted_serial = frame_serial;
    }
    ++next;
    if (progress != nullptr) {
      progress->update_count(next, options.frames, "frames");
      progress->throw_if_cancelled();
    }
  };
  const auto take = [&](AVFrame& frame) {
    const int64_t timestamp =
        frame.best_effort_timestamp != AV_NOPTS_VALUE ? frame.best_effort_timestamp : frame.pts;
    const double time = timestamp == AV_NOPTS_VALUE ? last_time + source_frame_duration
                                                    : to_seconds(timestamp, stream.time_base) - origin;
    last_time = time;
    ++serial;
    // Output instants before this picture's time showed the held (latest earlier) picture (§10).
    while (next < options.frames && source_time(next, options, info.video.duration) + tolerance < time) {
      if (have_held) {
        emit(*held, held_serial);
      } else {
        emit(frame, serial);  // the clip's first picture starts late: it stands in for the instants before it
      }
    }
    av_frame_unref(held.get());
    av_frame_move_ref(held.get(), &frame);
    have_held = true;
    held_serial = serial;
  };

  auto packet = make_packet();
  auto frame = make_frame();
  bool draining = false;
  while (next < options.frames) {
    if (!draining) {
      const int read_status = av_read_frame(input.get(), packet.get());
      if (read_status < 0) {
        if (read_status != AVERROR_EOF) {
          core::logger("media").warn("{}: reading stopped at {} ({})", path.string(), seconds_text(last_time),
                                     ffmpeg_error(read_status));
        }
        draining = true;
        avcodec_send_packet(decoder.get(), nullptr);
      } else if (packet->stream_index != video_idx) {
        av_packet_unref(packet.get());
        continue;
      } else {
        const int send_status = avcodec_send_packet(decoder.get(), packet.get());
        av_packet_unref(packet.get());
        if (send_status < 0 && send_status != AVERROR(EAGAIN)) {
          core::logger("media").debug("{}: skipped a packet the decoder refused ({})", path.string(),
                                      ffmpeg_error(send_status));
        }
      }
    }
    int receive_status = 0;
    while (next < options.frames &&
           (receive_status = avcodec_receive_frame(decoder.get(), frame.get())) >= 0) {
      take(*frame);
    }
    if (draining && receive_status == AVERROR_EOF) break;
    if (draining && receive_status < 0 && receive_status != AVERROR(EAGAIN)) break;
  }

  if (next < options.frames) {
    if (!have_held) {
      throw core::InvalidInput(path.string() +
                               ": no video frame could be decoded. The file is corrupt: re-export it.");
    }
    const double wanted = source_time(next, options, info.video.duration);
    if (wanted > last_time + 2 * source_frame_duration + kDurationTolerance) {
      throw core::InvalidInput(
          fmt::format("{}: decoding ended at {} but frame {} needs the picture at {} (the header "
                      "says the video lasts {}). The file is truncated or corrupt: re-export it.",
                      path.string(), seconds_text(last_time), next, seconds_text(wanted),
                      seconds_text(info.video.duration)));
    }
    while (next < options.frames) emit(*held, held_serial);
  }
  return out;
}

VideoFrames downscale_frames(const VideoFrames& frames, int factor) {
  if (factor <= 0 || frames.width % factor != 0 || frames.height % factor != 0) {
    throw core::InvalidInput(
        fmt::format("reference downscale factor {} does not divide the size {}x{}; use a factor "
                    "that divides both width and height",
                    factor, frames.width, frames.height));
  }
  if (factor == 1) return frames;
  return resize_frames(frames, frames.width / factor, frames.height / factor);
}

std::vector<int> reference_frame_indices(int frame_count, int temporal) {
  std::vector<int> indices;
  if (frame_count <= 0) return indices;
  indices.push_back(0);
  for (int frame_idx = 1; frame_idx < frame_count; frame_idx += std::max(1, temporal))
    indices.push_back(frame_idx);
  return indices;
}

VideoFrames subsample_frames(const VideoFrames& frames, int temporal) {
  if (temporal <= 0) {
    throw core::InvalidInput(
        fmt::format("reference temporal scale factor must be at least 1, got {}", temporal));
  }
  if (temporal == 1) return frames;
  const auto indices = reference_frame_indices(frames.frame_count(), temporal);
  VideoFrames out{frames.width, frames.height, frames.fps / temporal, {}};
  out.rgb.resize(out.frame_bytes() * indices.size());
  for (size_t out_idx = 0; out_idx < indices.size(); ++out_idx) {
    std::memcpy(out.frame(static_cast<int>(out_idx)), frames.frame(indices[out_idx]), out.frame_bytes());
  }
  return out;
}

VideoFrames fit_reference_video(const std::filesystem::path& path, const VideoFitOptions& options,
                                const ReferenceScaling& scaling, core::Progress* progress) {
  return subsample_frames(downscale_frames(fit_video(path, options, progress), scaling.downscale),
                          scaling.temporal);
}

}  // namespace avtrain::media
