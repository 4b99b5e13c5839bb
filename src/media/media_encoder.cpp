#include "media/media_encoder.h"

extern "C" {
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "media/audio_fit.h"
#include "media/ffmpeg_handles.h"
#include "media/frame_resize.h"

namespace avtrain::media {
namespace {

struct AudioFifoFreer {
  void operator()(AVAudioFifo* p) const { av_audio_fifo_free(p); }
};
using AudioFifoPtr = std::unique_ptr<AVAudioFifo, AudioFifoFreer>;

void check(int status, const std::string& what) {
  if (status < 0) throw core::InternalError(what + ": " + ffmpeg_error(status));
}

}  // namespace

struct MediaEncoder::State {
  std::filesystem::path path;
  EncoderSettings settings;  // width and height rounded down to even
  int input_width = 0, input_height = 0;
  OutputPtr output;
  CodecContextPtr video;
  AVStream* video_stream = nullptr;
  ScalerPtr scaler;
  FramePtr yuv;
  int64_t next_video_pts = 0;
  CodecContextPtr audio;
  AVStream* audio_stream = nullptr;
  ResamplerPtr resampler;
  AudioFifoPtr fifo;
  int64_t next_audio_pts = 0;
  PacketPtr packet = make_packet();
  bool finished = false;

  void write_packets(AVCodecContext& codec, AVStream& stream) {
    while (true) {
      const int status = avcodec_receive_packet(&codec, packet.get());
      if (status == AVERROR(EAGAIN) || status == AVERROR_EOF) return;
      check(status, "encoding " + path.string());
      av_packet_rescale_ts(packet.get(), codec.time_base, stream.time_base);
      packet->stream_index = stream.index;
      check(av_interleaved_write_frame(output.get(), packet.get()), "writing " + path.string());
    }
  }

  void send_audio_frames(bool flush) {
    const int frame_size =
        audio->frame_size > 0 && !(audio->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE)
            ? audio->frame_size
            : 1024;
    while (av_audio_fifo_size(fifo.get()) >= frame_size || (flush && av_audio_fifo_size(fifo.get()) > 0)) {
      const int count = std::min(frame_size, av_audio_fifo_size(fifo.get()));
      auto frame = make_frame();
      frame->format = audio->sample_fmt;
      av_channel_layout_copy(&frame->ch_layout, &audio->ch_layout);
      frame->sample_rate = audio->sample_rate;
      // Encoders without a variable frame size want full frames: the last one is padded with silence.
      frame->nb_samples =
          (audio->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) ? count : frame_size;
      check(av_frame_get_buffer(frame.get(), 0), "allocating an audio frame");
      av_samples_set_silence(frame->extended_data, 0, frame->nb_samples, frame->ch_layout.nb_channels,
                             static_cast<AVSampleFormat>(frame->format));
      av_audio_fifo_read(fifo.get(), reinterpret_cast<void**>(frame->extended_data), count);
      frame->pts = next_audio_pts;
      next_audio_pts += frame->nb_samples;
      check(avcodec_send_frame(audio.get(), frame.get()), "encoding audio for " + path.string());
      write_packets(*audio, *audio_stream);
    }
  }
};

MediaEncoder::MediaEncoder(const std::filesystem::path& path, const EncoderSettings& settings)
    : state_(std::make_unique<State>()) {
  route_ffmpeg_logs();
  auto& s = *state_;
  s.path = path;
  s.settings = settings;
  s.input_width = settings.width;
  s.input_height = settings.height;
  s.settings.width &= ~1;
  s.settings.height &= ~1;
  const bool has_video = !settings.video_codec.empty();
  if (!has_video && !settings.audio) {
    throw core::InternalError(path.string() + ": an encoder needs a video codec, audio, or both");
  }
  if (has_video && (s.settings.width <= 0 || s.settings.height <= 0 || settings.fps <= 0)) {
    throw core::InternalError(fmt::format("{}: cannot encode {}x{} frames at {} fps", path.string(),
                                          settings.width, settings.height, settings.fps));
  }
  AVFormatContext* raw = nullptr;
  const int alloc_status = avformat_alloc_output_context2(&raw, nullptr, nullptr, path.c_str());
  if (alloc_status < 0 || raw == nullptr) {
    throw core::InvalidInput(path.string() + ": FFmpeg has no muxer for this extension (" +
                             ffmpeg_error(alloc_status) + "). Use .mp4, .mov, .webm, .mkv or .avi.");
  }
  s.output.reset(raw);

  if (has_video) {
    const AVCodec* video_codec = avcodec_find_encoder_by_name(settings.video_codec.c_str());
    if (video_codec == nullptr)
      throw core::InternalError("FFmpeg has no encoder named " + settings.video_codec);
    s.video.reset(avcodec_alloc_context3(video_codec));
    auto& v = *s.video;
    v.width = s.settings.width;
    v.height = s.settings.height;
    v.pix_fmt = AV_PIX_FMT_YUV420P;
    v.framerate = av_d2q(settings.fps, 1001000);
    v.time_base = settings.time_base_denominator > 0 ? AVRational{1, settings.time_base_denominator}
                                                     : av_inv_q(v.framerate);
    v.gop_size = std::max(1, static_cast<int>(settings.fps * 2));
    v.thread_count = 0;
    if (s.output->oformat->flags & AVFMT_GLOBALHEADER) v.flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    const std::string crf = std::to_string(settings.crf);
    if (settings.video_codec == "libx264") {
      av_opt_set(v.priv_data, "crf", crf.c_str(), 0);
      av_opt_set(v.priv_data, "preset", settings.preset.c_str(), 0);
    } else if (settings.video_codec == "libvpx-vp9") {
      v.bit_rate = 0;
      av_opt_set(v.priv_data, "crf", crf.c_str(), 0);
      av_opt_set(v.priv_data, "deadline", "realtime", 0);
      av_opt_set(v.priv_data, "cpu-used", "8", 0);
    } else {
      // mpeg4 and others: a generous bit rate (about 1 bit per pixel) stands in for crf.
      v.bit_rate = std::max<int64_t>(1'000'000, static_cast<int64_t>(v.width) * v.height * settings.fps);
    }
    check(avcodec_open2(&v, video_codec, nullptr), "opening the " + settings.video_codec + " encoder");
    s.video_stream = avformat_new_stream(s.output.get(), nullptr);
    if (s.video_stream == nullptr) throw std::bad_alloc();
    s.video_stream->time_base = v.time_base;
    s.video_stream->avg_frame_rate = v.framerate;
    check(avcodec_parameters_from_context(s.video_stream->codecpar, &v), "video stream parameters");
    if (settings.rotation % 360 != 0) {
      auto* matrix = reinterpret_cast<int32_t*>(
          av_stream_new_side_data(s.video_stream, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t)));
      if (matrix == nullptr) throw std::bad_alloc();
      av_display_rotation_set(
          matrix, settings.rotation);  // clockwise here; av_display_rotation_get answers counter-clockwise
    }
    s.scaler = create_scaler(settings.width, settings.height, AV_PIX_FMT_RGB24, v.width, v.height,
                             AV_PIX_FMT_YUV420P);
    s.yuv = make_frame();
  }

  if (settings.audio) {
    const AVCodec* audio_codec = avcodec_find_encoder_by_name(settings.audio_codec.c_str());
    if (audio_codec == nullptr)
      throw core::InternalError("FFmpeg has no encoder named " + settings.audio_codec);
    s.audio.reset(avcodec_alloc_context3(audio_codec));
    auto& a = *s.audio;
    a.sample_fmt = audio_codec->sample_fmts != nullptr ? audio_codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    a.sample_rate = settings.sample_rate;
    av_channel_layout_default(&a.ch_layout, settings.channels);
    a.time_base = {1, settings.sample_rate};
    a.bit_rate = settings.audio_codec == "libvorbis" ? 0 : 192'000;
    if (settings.audio_codec == "libvorbis") {
      a.flags |= AV_CODEC_FLAG_QSCALE;
      a.global_quality = 6 * FF_QP2LAMBDA;
    }
    if (s.output->oformat->flags & AVFMT_GLOBALHEADER) a.flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    check(avcodec_open2(&a, audio_codec, nullptr), "opening the " + settings.audio_codec + " encoder");
    s.audio_stream = avformat_new_stream(s.output.get(), nullptr);
    if (s.audio_stream == nullptr) throw std::bad_alloc();
    s.audio_stream->time_base = a.time_base;
    check(avcodec_parameters_from_context(s.audio_stream->codecpar, &a), "audio stream parameters");
    s.fifo.reset(av_audio_fifo_alloc(a.sample_fmt, settings.channels, 4096));
    if (!s.fifo) throw std::bad_alloc();
  }

  if (!(s.output->oformat->flags & AVFMT_NOFILE)) {
    const int open_status = avio_open(&s.output->pb, path.c_str(), AVIO_FLAG_WRITE);
    if (open_status < 0) {
      throw core::InvalidInput(path.string() + ": cannot be created (" + ffmpeg_error(open_status) +
                               "). Check that its folder exists and is writable.");
    }
  }
  AVDictionary* options = nullptr;
  const std::string format_name = s.output->oformat->name;
  if (settings.faststart && (format_name == "mp4" || format_name == "mov")) {
    av_dict_set(&options, "movflags", "+faststart", 0);
  }
  const int header_status = avformat_write_header(s.output.get(), &options);
  av_dict_free(&options);
  check(header_status, "writing the header of " + path.string());
}

MediaEncoder::~MediaEncoder() = default;

void MediaEncoder::add_video_frame(const uint8_t* rgb, int64_t pts) {
  auto& s = *state_;
  if (!s.video) throw core::InternalError(s.path.string() + ": a video frame added to an audio-only encoder");
  auto& v = *s.video;
  av_frame_unref(s.yuv.get());
  s.yuv->format = v.pix_fmt;
  s.yuv->width = v.width;
  s.yuv->height = v.height;
  check(av_frame_get_buffer(s.yuv.get(), 0), "allocating a video frame");
  const uint8_t* src[4] = {rgb, nullptr, nullptr, nullptr};
  const int src_stride[4] = {s.input_width * 3, 0, 0, 0};
  sws_scale(s.scaler.get(), src, src_stride, 0, s.input_height, s.yuv->data, s.yuv->linesize);
  const int64_t ticks_per_frame = s.settings.time_base_denominator > 0
                                      ? std::max<int64_t>(1, std::llround(v.time_base.den / s.settings.fps))
                                      : 1;
  s.yuv->pts = pts >= 0 ? pts : s.next_video_pts;
  s.next_video_pts = s.yuv->pts + ticks_per_frame;
  check(avcodec_send_frame(&v, s.yuv.get()), "encoding video for " + s.path.string());
  s.write_packets(v, *s.video_stream);
}

void MediaEncoder::add_video(const VideoFrames& frames) {
  for (int frame_idx = 0; frame_idx < frames.frame_count(); ++frame_idx)
    add_video_frame(frames.frame(frame_idx));
}

void MediaEncoder::add_audio(const AudioBuffer& audio) {
  auto& s = *state_;
  if (!s.audio)
    throw core::InternalError(s.path.string() + ": audio added to an encoder set up without audio");
  if (audio.channels != s.settings.channels) {
    throw core::InternalError(fmt::format("{}: {} audio channels given, the encoder was set up for {}",
                                          s.path.string(), audio.channels, s.settings.channels));
  }
  const AudioBuffer resampled =
      audio.sample_rate == s.audio->sample_rate ? audio : resample_audio(audio, s.audio->sample_rate);
  if (!s.resampler) {  // format conversion only (planar float to the encoder's format)
    SwrContext* raw = nullptr;
    check(swr_alloc_set_opts2(&raw, &s.audio->ch_layout, s.audio->sample_fmt, s.audio->sample_rate,
                              &s.audio->ch_layout, AV_SAMPLE_FMT_FLTP, s.audio->sample_rate, 0, nullptr),
          "audio converter");
    s.resampler.reset(raw);
    check(swr_init(s.resampler.get()), "audio converter");
  }
  const int64_t length = resampled.frames();
  constexpr int kChunk = 8192, kCapacity = kChunk + 256;
  std::vector<const uint8_t*> in(resampled.channels);
  // The encoder's sample format, planar or packed, in one owned buffer.
  const int buffer_size =
      av_samples_get_buffer_size(nullptr, resampled.channels, kCapacity, s.audio->sample_fmt, /*align=*/1);
  check(buffer_size, "audio buffer size");
  std::vector<uint8_t> buffer(buffer_size);
  std::vector<uint8_t*> converted(resampled.channels);
  check(av_samples_fill_arrays(converted.data(), nullptr, buffer.data(), resampled.channels, kCapacity,
                               s.audio->sample_fmt, /*align=*/1),
        "audio buffer");
  for (int64_t start = 0; start < length; start += kChunk) {
    const int count = static_cast<int>(std::min<int64_t>(kChunk, length - start));
    for (int channel = 0; channel < resampled.channels; ++channel) {
      in[channel] = reinterpret_cast<const uint8_t*>(resampled.channel(channel) + start);
    }
    const int out_count = swr_convert(s.resampler.get(), converted.data(), kCapacity, in.data(), count);
    check(out_count, "converting audio for " + s.path.string());
    check(av_audio_fifo_write(s.fifo.get(), reinterpret_cast<void**>(converted.data()), out_count),
          "audio queue");
  }
  s.send_audio_frames(false);
}

void MediaEncoder::finish() {
  auto& s = *state_;
  if (s.finished) return;
  s.finished = true;
  if (s.video) {
    check(avcodec_send_frame(s.video.get(), nullptr), "flushing the video encoder");
    s.write_packets(*s.video, *s.video_stream);
  }
  if (s.audio) {
    s.send_audio_frames(true);
    check(avcodec_send_frame(s.audio.get(), nullptr), "flushing the audio encoder");
    s.write_packets(*s.audio, *s.audio_stream);
  }
  check(av_write_trailer(s.output.get()), "finishing " + s.path.string());
}

void write_mp4(const std::filesystem::path& path, const VideoFrames& video, const AudioBuffer* audio) {
  EncoderSettings settings;
  settings.width = video.width;
  settings.height = video.height;
  settings.fps = video.fps;
  settings.audio = audio != nullptr;
  settings.sample_rate = kOutputSampleRate;
  MediaEncoder encoder(path, settings);
  encoder.add_video(video);
  if (audio != nullptr) encoder.add_audio(to_stereo(*audio));
  encoder.finish();
}

}  // namespace avtrain::media
