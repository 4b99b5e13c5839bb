#include "media/ffmpeg_handles.h"

extern "C" {
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/error.h"
#include "core/log.h"

namespace avtrain::media {

void OutputCloser::operator()(AVFormatContext* p) const {
  if (p == nullptr) return;
  if (p->pb != nullptr && !(p->oformat->flags & AVFMT_NOFILE)) avio_closep(&p->pb);
  avformat_free_context(p);
}

namespace {

void forward_ffmpeg_log(void* context, int level, const char* format, va_list args) {
  if (level > av_log_get_level()) return;
  auto& log = core::logger("media");
  if (!log.should_log(spdlog::level::debug)) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(context, level, format, args, line, sizeof(line), &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) log.debug("ffmpeg: {}", text);
}

}  // namespace

void route_ffmpeg_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_WARNING);
    av_log_set_callback(forward_ffmpeg_log);
  });
}

FramePtr make_frame() {
  FramePtr frame(av_frame_alloc());
  if (!frame) throw std::bad_alloc();
  return frame;
}

PacketPtr make_packet() {
  PacketPtr packet(av_packet_alloc());
  if (!packet) throw std::bad_alloc();
  return packet;
}

std::string ffmpeg_error(int status) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(status, text, sizeof(text));
  return text;
}

double to_seconds(int64_t timestamp, AVRational time_base) {
  return timestamp == AV_NOPTS_VALUE ? 0.0 : static_cast<double>(timestamp) * av_q2d(time_base);
}

InputPtr open_input(const std::filesystem::path& path) {
  route_ffmpeg_logs();
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw core::InvalidInput(path.string() + ": no such file. Check the path.");
  }
  if (std::filesystem::file_size(path, error) == 0) {
    throw core::InvalidInput(path.string() +
                             ": the file is empty (0 bytes), not a video. Re-export or re-upload it.");
  }
  AVFormatContext* raw = nullptr;
  const int status = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (status < 0) {
    throw core::InvalidInput(
        path.string() + ": not a readable media file (" + ffmpeg_error(status) +
        "). Use an mp4, mov, webm, mkv or avi video; if it is one, it may be truncated or "
        "corrupt: re-export it.");
  }
  InputPtr input(raw);
  const int info_status = avformat_find_stream_info(input.get(), nullptr);
  if (info_status < 0) {
    throw core::InvalidInput(path.string() + ": its streams cannot be read (" + ffmpeg_error(info_status) +
                             "). The file may be truncated or corrupt: re-export it.");
  }
  return input;
}

CodecContextPtr open_decoder(const AVStream& stream, const std::filesystem::path& path) {
  const AVCodec* codec = avcodec_find_decoder(stream.codecpar->codec_id);
  if (codec == nullptr) {
    // A codec FFmpeg does not know at all has the id "none": say "unknown" and which kind of stream.
    const std::string codec_name = stream.codecpar->codec_id == AV_CODEC_ID_NONE
                                       ? "unknown-codec"
                                       : std::string(avcodec_get_name(stream.codecpar->codec_id));
    const char* kind = av_get_media_type_string(stream.codecpar->codec_type);
    throw core::InvalidInput(path.string() + ": no decoder for its " + codec_name + " " +
                             (kind ? kind : "media") + " stream. Re-encode it as H.264/AAC.");
  }
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) throw std::bad_alloc();
  avcodec_parameters_to_context(context.get(), stream.codecpar);
  context->pkt_timebase = stream.time_base;
  context->thread_count = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  context->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  const int status = avcodec_open2(context.get(), codec, nullptr);
  if (status < 0) {
    throw core::InvalidInput(path.string() + ": cannot open the " + codec->name + " decoder (" +
                             ffmpeg_error(status) + "). The stream may be corrupt: re-export the file.");
  }
  return context;
}

ScalerPtr create_scaler(int src_width, int src_height, int src_format, int dst_width, int dst_height,
                        int dst_format) {
  ScalerPtr context(sws_alloc_context());
  if (!context) throw std::bad_alloc();
  av_opt_set_int(context.get(), "srcw", src_width, 0);
  av_opt_set_int(context.get(), "srch", src_height, 0);
  av_opt_set_int(context.get(), "src_format", src_format, 0);
  av_opt_set_int(context.get(), "dstw", dst_width, 0);
  av_opt_set_int(context.get(), "dsth", dst_height, 0);
  av_opt_set_int(context.get(), "dst_format", dst_format, 0);
  av_opt_set_int(context.get(), "sws_flags", SWS_BICUBIC, 0);
  // Slice threads serve sws_scale_frame (FFmpeg >= 5.0); small pictures gain nothing from them.
  const int threads = src_width * src_height >= 640 * 360
                          ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                          : 1;
  av_opt_set_int(context.get(), "threads", threads, 0);
  const int status = sws_init_context(context.get(), nullptr, nullptr);
  if (status < 0) {
    throw core::InternalError(
        "swscale cannot scale " + std::to_string(src_width) + "x" + std::to_string(src_height) + " " +
        av_get_pix_fmt_name(static_cast<AVPixelFormat>(src_format)) + " to " + std::to_string(dst_width) +
        "x" + std::to_string(dst_height) + " (" + ffmpeg_error(status) + ")");
  }
  return context;
}

}  // namespace avtrain::media
