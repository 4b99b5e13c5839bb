#pragma once
// Owners of FFmpeg handles (STYLE.md §7): FFmpeg frees through T** and nulls the caller's pointer,
// a deleter receives T*. Also the two things every media function does first: open a file for
// reading, and turn an FFmpeg status code into words.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <filesystem>
#include <memory>
#include <string>

namespace avtrain::media {

struct InputCloser {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
using InputPtr = std::unique_ptr<AVFormatContext, InputCloser>;

// An output context owns its AVIOContext only once avio_open succeeded; the deleter closes both.
struct OutputCloser {
  void operator()(AVFormatContext* p) const;
};
using OutputPtr = std::unique_ptr<AVFormatContext, OutputCloser>;

struct CodecContextFreer {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextFreer>;

struct FrameFreer {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;

struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;

struct ScalerFreer {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
using ScalerPtr = std::unique_ptr<SwsContext, ScalerFreer>;

struct ResamplerFreer {
  void operator()(SwrContext* p) const { swr_free(&p); }
};
using ResamplerPtr = std::unique_ptr<SwrContext, ResamplerFreer>;

struct FilterGraphFreer {
  void operator()(AVFilterGraph* p) const { avfilter_graph_free(&p); }
};
using FilterGraphPtr = std::unique_ptr<AVFilterGraph, FilterGraphFreer>;

FramePtr make_frame();
PacketPtr make_packet();

// av_strerror's text for `status` ("Invalid data found when processing input").
std::string ffmpeg_error(int status);

// Opens `path` and reads its stream information. Throws core::InvalidInput naming the file when it
// is missing, empty, or not a media file FFmpeg can read.
InputPtr open_input(const std::filesystem::path& path);

// Opens a decoder for `stream` (threads: all cores). Throws core::InvalidInput naming the file
// and codec when no decoder exists.
CodecContextPtr open_decoder(const AVStream& stream, const std::filesystem::path& path);

// Sends FFmpeg's own log lines to the "media" logger at debug level (they would otherwise go to stderr
// unasked); media functions call it before using FFmpeg. Idempotent.
void route_ffmpeg_logs();

// A bicubic swscale context for the given sizes and pixel formats (AVPixelFormat values), sliced over
// all cores for large pictures (sws_scale_frame uses the slices). Throws core::InternalError when
// swscale refuses them.
ScalerPtr create_scaler(int src_width, int src_height, int src_format, int dst_width, int dst_height,
                        int dst_format);

// Stream time in seconds; 0 for AV_NOPTS_VALUE.
double to_seconds(int64_t timestamp, AVRational time_base);

}  // namespace avtrain::media
