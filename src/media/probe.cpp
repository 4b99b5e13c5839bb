#include "media/probe.h"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "media/ffmpeg_handles.h"
#include "media/stream_selection.h"

namespace avtrain::media {
namespace {

// Clockwise degrees as FFmpeg's own autorotation reads the display matrix (fftools' get_rotation).
int display_rotation(const AVStream& stream) {
  size_t size = 0;
  const uint8_t* matrix = av_stream_get_side_data(&stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (matrix == nullptr || size < 9 * sizeof(int32_t)) return 0;
  const double counter_clockwise = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(counter_clockwise)) return 0;
  const int clockwise = static_cast<int>(std::lround(-counter_clockwise / 90.0)) * 90;
  return ((clockwise % 360) + 360) % 360;
}

double valid_rate(AVRational rate) { return rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0; }

}  // namespace

MediaInfo probe(const std::filesystem::path& path) {
  auto input = open_input(path);
  MediaInfo info;
  info.path = path.string();
  info.container = input->iformat->name;
  info.duration =
      input->duration == AV_NOPTS_VALUE ? 0.0 : static_cast<double>(input->duration) / AV_TIME_BASE;

  const int video_idx = find_video_stream(*input, path);
  const AVStream& video = *input->streams[video_idx];
  auto& v = info.video;
  v.codec = avcodec_get_name(video.codecpar->codec_id);
  const char* pixel_format = av_get_pix_fmt_name(static_cast<AVPixelFormat>(video.codecpar->format));
  v.pixel_format = pixel_format != nullptr ? pixel_format : "unknown";
  v.width = video.codecpar->width;
  v.height = video.codecpar->height;
  v.rotation = display_rotation(video);
  const bool swapped = v.rotation == 90 || v.rotation == 270;
  v.display_width = swapped ? v.height : v.width;
  v.display_height = swapped ? v.width : v.height;
  v.start_time = video.start_time == AV_NOPTS_VALUE ? 0.0 : to_seconds(video.start_time, video.time_base);
  v.duration = video.duration > 0 ? to_seconds(video.duration, video.time_base) : 0.0;
  v.frame_count = video.nb_frames;

  if (v.frame_count <= 0 || v.duration <= 0) {
    // The header (Matroska, WebM, some AVI) lacks them: demux the video packets (no decoding).
    auto packet = make_packet();
    int64_t count = 0;
    int64_t first = AV_NOPTS_VALUE, end = AV_NOPTS_VALUE;
    for (int status; (status = av_read_frame(input.get(), packet.get())) != AVERROR_EOF;
         av_packet_unref(packet.get())) {
      if (status < 0) {
        throw core::InvalidInput(info.path + ": reading its packets failed after " + std::to_string(count) +
                                 " video frames (" + ffmpeg_error(status) +
                                 "). The file is truncated or corrupt: re-export it.");
      }
      if (packet->stream_index != video_idx) continue;
      ++count;
      if (packet->pts == AV_NOPTS_VALUE) continue;
      if (first == AV_NOPTS_VALUE || packet->pts < first) first = packet->pts;
      const int64_t packet_end = packet->pts + std::max<int64_t>(packet->duration, 0);
      if (end == AV_NOPTS_VALUE || packet_end > end) end = packet_end;
    }
    if (v.frame_count <= 0) {
      v.frame_count = count;
      v.frame_count_counted = true;
    }
    if (v.duration <= 0 && first != AV_NOPTS_VALUE) v.duration = to_seconds(end - first, video.time_base);
  }
  v.fps = valid_rate(video.avg_frame_rate);
  if (v.fps <= 0) v.fps = valid_rate(video.r_frame_rate);
  if (v.fps <= 0 && v.duration > 0) v.fps = static_cast<double>(v.frame_count) / v.duration;
  if (v.duration <= 0 && v.fps > 0) v.duration = static_cast<double>(v.frame_count) / v.fps;
  if (v.duration <= 0) v.duration = info.duration;
  if (v.frame_count <= 0) {
    throw core::InvalidInput(info.path +
                             ": its video stream holds no frames. The file is truncated or corrupt: "
                             "re-export it.");
  }

  const int audio_idx = find_audio_stream(*input);
  if (audio_idx >= 0) {
    const AVStream& audio = *input->streams[audio_idx];
    auto& a = info.audio;
    a.present = true;
    a.codec = avcodec_get_name(audio.codecpar->codec_id);
    a.sample_rate = audio.codecpar->sample_rate;
    a.channels = audio.codecpar->ch_layout.nb_channels;
    a.start_time = audio.start_time == AV_NOPTS_VALUE ? 0.0 : to_seconds(audio.start_time, audio.time_base);
    a.duration = audio.duration > 0 ? to_seconds(audio.duration, audio.time_base) : info.duration;
  }
  return info;
}

std::string to_json(const MediaInfo& info) {
  const auto& v = info.video;
  const auto& a = info.audio;
  nlohmann::json json = {
      {"path", info.path},
      {"container", info.container},
      {"duration", info.duration},
      {"video",
       {{"codec", v.codec},
        {"pixel_format", v.pixel_format},
        {"width", v.width},
        {"height", v.height},
        {"rotation", v.rotation},
        {"display_width", v.display_width},
        {"display_height", v.display_height},
        {"fps", v.fps},
        {"frame_count", v.frame_count},
        {"frame_count_counted", v.frame_count_counted},
        {"duration", v.duration},
        {"start_time", v.start_time}}},
  };
  if (a.present) {
    json["audio"] = {{"present", true},        {"codec", a.codec},       {"sample_rate", a.sample_rate},
                     {"channels", a.channels}, {"duration", a.duration}, {"start_time", a.start_time}};
  } else {
    json["audio"] = {{"present", false}};
  }
  return core::json_text(json, 2);
}

}  // namespace avtrain::media
