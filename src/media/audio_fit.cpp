#include "media/audio_fit.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "media/ffmpeg_handles.h"
#include "media/probe.h"
#include "media/stream_selection.h"

namespace avtrain::media {
namespace {

// Padding shorter than this (AAC priming, container rounding) is not worth a warning.
constexpr double kPaddingWarningSeconds = 0.010;

struct InOutFreer {
  void operator()(AVFilterInOut* p) const { avfilter_inout_free(&p); }
};
using InOutPtr = std::unique_ptr<AVFilterInOut, InOutFreer>;

float sample_as_float(const AVFrame& frame, int channel, int n, int channels) {
  const auto format = static_cast<AVSampleFormat>(frame.format);
  const bool planar = av_sample_fmt_is_planar(format);
  const uint8_t* data = planar ? frame.extended_data[channel] : frame.extended_data[0];
  const int idx = planar ? n : n * channels + channel;
  switch (av_get_packed_sample_fmt(format)) {
    case AV_SAMPLE_FMT_FLT:
      return reinterpret_cast<const float*>(data)[idx];
    case AV_SAMPLE_FMT_DBL:
      return static_cast<float>(reinterpret_cast<const double*>(data)[idx]);
    case AV_SAMPLE_FMT_S16:
      return reinterpret_cast<const int16_t*>(data)[idx] / 32768.0f;
    case AV_SAMPLE_FMT_S32:
      return static_cast<float>(reinterpret_cast<const int32_t*>(data)[idx] / 2147483648.0);
    case AV_SAMPLE_FMT_S64:
      return static_cast<float>(static_cast<double>(reinterpret_cast<const int64_t*>(data)[idx]) /
                                9223372036854775808.0);
    case AV_SAMPLE_FMT_U8:
      return (static_cast<int>(data[idx]) - 128) / 128.0f;
    default:
      return 0.0f;
  }
}

AVChannelLayout layout_of(int channels) {
  AVChannelLayout layout{};
  av_channel_layout_default(&layout, channels);
  return layout;
}

// Runs `audio` through an FFmpeg filter chain ("rubberband=tempo=0.5") and returns float planar output.
AudioBuffer run_audio_filter(const AudioBuffer& audio, const std::string& chain) {
  FilterGraphPtr graph(avfilter_graph_alloc());
  if (!graph) throw std::bad_alloc();
  AVChannelLayout layout = layout_of(audio.channels);
  char layout_name[64] = {};
  av_channel_layout_describe(&layout, layout_name, sizeof(layout_name));
  const std::string args = fmt::format("time_base=1/{}:sample_rate={}:sample_fmt=fltp:channel_layout={}",
                                       audio.sample_rate, audio.sample_rate, layout_name);
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
  if (avfilter_graph_create_filter(&source, avfilter_get_by_name("abuffer"), "in", args.c_str(), nullptr,
                                   graph.get()) < 0 ||
      avfilter_graph_create_filter(&sink, avfilter_get_by_name("abuffersink"), "out", nullptr, nullptr,
                                   graph.get()) < 0) {
    throw core::InternalError("cannot create FFmpeg's abuffer/abuffersink filters");
  }
  InOutPtr outputs(avfilter_inout_alloc());
  InOutPtr inputs(avfilter_inout_alloc());
  outputs->name = av_strdup("in");
  outputs->filter_ctx = source;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = sink;
  const std::string description =
      fmt::format("{},aformat=sample_fmts=fltp:sample_rates={}:channel_layouts={}", chain, audio.sample_rate,
                  layout_name);
  AVFilterInOut* inputs_raw = inputs.release();
  AVFilterInOut* outputs_raw = outputs.release();
  const int parse_status =
      avfilter_graph_parse_ptr(graph.get(), description.c_str(), &inputs_raw, &outputs_raw, nullptr);
  inputs.reset(inputs_raw);
  outputs.reset(outputs_raw);
  if (parse_status < 0 || avfilter_graph_config(graph.get(), nullptr) < 0) {
    throw core::InternalError("FFmpeg refused the audio filter chain '" + description + "'");
  }

  std::vector<std::vector<float>> channels(audio.channels);
  auto out_frame = make_frame();
  const auto drain = [&]() {
    int status;
    while ((status = av_buffersink_get_frame(sink, out_frame.get())) >= 0) {
      for (int channel = 0; channel < audio.channels; ++channel) {
        const auto* data = reinterpret_cast<const float*>(out_frame->extended_data[channel]);
        channels[channel].insert(channels[channel].end(), data, data + out_frame->nb_samples);
      }
      av_frame_unref(out_frame.get());
    }
    return status;
  };
  constexpr int kChunk = 4096;
  const int64_t total = audio.frames();
  for (int64_t start = 0; start < total; start += kChunk) {
    const int count = static_cast<int>(std::min<int64_t>(kChunk, total - start));
    auto in_frame = make_frame();
    in_frame->format = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_copy(&in_frame->ch_layout, &layout);
    in_frame->sample_rate = audio.sample_rate;
    in_frame->nb_samples = count;
    in_frame->pts = start;
    if (av_frame_get_buffer(in_frame.get(), 0) < 0) throw std::bad_alloc();
    for (int channel = 0; channel < audio.channels; ++channel) {
      std::memcpy(in_frame->extended_data[channel], audio.channel(channel) + start, count * sizeof(float));
    }
    if (av_buffersrc_add_frame(source, in_frame.get()) < 0)
      throw core::InternalError("audio filter refused a frame");
    drain();
  }
  if (av_buffersrc_add_frame(source, nullptr) < 0)
    throw core::InternalError("audio filter refused the end of stream");
  drain();
  av_channel_layout_uninit(&layout);

  AudioBuffer out{audio.sample_rate, audio.channels, {}};
  const size_t length = channels.empty() ? 0 : channels[0].size();
  out.samples.reserve(length * audio.channels);
  for (const auto& channel : channels) out.samples.insert(out.samples.end(), channel.begin(), channel.end());
  return out;
}

// FFmpeg's rubberband filter neither pads the stretcher's start nor drops its start delay, so its output
// runs early or late by a few tens of milliseconds depending on tempo and rate (measured with FFmpeg 5.1
// at 44.1 kHz: about 31 ms x (1 - 1/tempo)). That would move a clip's sound away from its picture
// (DECISIONS.md §11). The offset is measured on a short burst through the same chain and undone.
double filter_offset_seconds(int sample_rate, int channels, const std::string& chain, double ratio) {
  constexpr double kOnset = 0.25, kBurst = 0.004, kBurstHz = 2000;
  const auto length = static_cast<int64_t>(std::llround(0.75 * sample_rate));
  AudioBuffer burst{sample_rate, channels, std::vector<float>(static_cast<size_t>(length) * channels, 0.0f)};
  const auto first = static_cast<int64_t>(std::llround(kOnset * sample_rate));
  const auto count = static_cast<int64_t>(std::llround(kBurst * sample_rate));
  for (int64_t n = 0; n < count; ++n) {
    const double t = static_cast<double>(n) / sample_rate;
    const double hann = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * n / count);
    const auto value = static_cast<float>(0.8 * hann * std::sin(2 * std::numbers::pi * kBurstHz * t));
    for (int channel = 0; channel < channels; ++channel) burst.channel(channel)[first + n] = value;
  }
  const AudioBuffer out = run_audio_filter(burst, chain);
  const double expected = kOnset * ratio + kBurst / 2;  // a preserved transient keeps its length
  const auto lo = std::max<int64_t>(0, std::llround((expected - 0.1) * sample_rate));
  const auto hi = std::min<int64_t>(out.frames(), std::llround((expected + 0.1) * sample_rate));
  int64_t peak_at = -1;
  float peak_value = 0;
  for (int64_t n = lo; n < hi; ++n) {
    if (std::abs(out.channel(0)[n]) > peak_value) {
      peak_value = std::abs(out.channel(0)[n]);
      peak_at = n;
    }
  }
  if (peak_at < 0 || peak_value < 0.1f) return 0.0;  // the burst did not come through: leave the output as is
  return static_cast<double>(peak_at) / sample_rate - expected;
}

// Runs `chain` and shifts its output by the chain's measured offset.
AudioBuffer run_aligned_filter(const AudioBuffer& audio, const std::string& chain, double ratio) {
  const double offset = filter_offset_seconds(audio.sample_rate, audio.channels, chain, ratio);
  const AudioBuffer out = run_audio_filter(audio, chain);
  const auto shift = static_cast<int64_t>(std::llround(offset * audio.sample_rate));
  core::logger("media").debug("{}: output offset {:.1f} ms undone", chain, offset * 1000);
  if (shift == 0) return out;
  const int64_t length = std::max<int64_t>(0, out.frames() - shift);
  AudioBuffer aligned{out.sample_rate, out.channels,
                      std::vector<float>(static_cast<size_t>(length) * out.channels)};
  for (int channel = 0; channel < out.channels; ++channel) {
    const float* src = out.channel(channel);
    float* dst = aligned.channel(channel);
    for (int64_t n = 0; n < length; ++n) {
      const int64_t from = n + shift;  // early output (shift < 0) gains leading silence
      dst[n] = from >= 0 && from < out.frames() ? src[from] : 0.0f;
    }
  }
  return aligned;
}

}  // namespace

int64_t window_samples(int frames, double fps, int sample_rate) {
  return static_cast<int64_t>(std::floor(static_cast<double>(frames) * sample_rate / fps + 1e-6));
}

AudioBuffer trim_or_pad(const AudioBuffer& audio, int64_t samples) {
  AudioBuffer out{audio.sample_rate, audio.channels, {}};
  out.samples.assign(static_cast<size_t>(samples) * audio.channels, 0.0f);
  const int64_t kept = std::min(samples, audio.frames());
  for (int channel = 0; channel < audio.channels; ++channel) {
    std::copy_n(audio.channel(channel), kept, out.channel(channel));
  }
  return out;
}

AudioBuffer to_stereo(const AudioBuffer& audio) {
  if (audio.channels == 2) return audio;
  const int64_t length = audio.frames();
  AudioBuffer out{audio.sample_rate, 2, std::vector<float>(static_cast<size_t>(length) * 2)};
  float* left = out.channel(0);
  float* right = out.channel(1);
  const auto in = [&](int channel) { return audio.channel(channel); };
  if (audio.channels == 1) {
    std::copy_n(in(0), length, left);
    std::copy_n(in(0), length, right);
  } else if (audio.channels == 6) {
    // 5.1 [L, R, C, LFE, Ls, Rs]: L = L/2.414 + 0.707/2.414 (C + Ls) (trainer.md §1.7)
    const float main = static_cast<float>(1.0 / 2.414), other = static_cast<float>(0.707 / 2.414);
    for (int64_t n = 0; n < length; ++n) {
      left[n] = main * in(0)[n] + other * in(2)[n] + other * in(4)[n];
      right[n] = main * in(1)[n] + other * in(2)[n] + other * in(5)[n];
    }
  } else if (audio.channels == 8) {
    // 7.1 [L, R, C, LFE, Ls, Rs, Lb, Rb]: L = L/3.121 + 0.707/3.121 (C + Ls + Lb)
    const float main = static_cast<float>(1.0 / 3.121), other = static_cast<float>(0.707 / 3.121);
    for (int64_t n = 0; n < length; ++n) {
      left[n] = main * in(0)[n] + other * (in(2)[n] + in(4)[n] + in(6)[n]);
      right[n] = main * in(1)[n] + other * (in(2)[n] + in(5)[n] + in(7)[n]);
    }
  } else {  // any other count: the mean of all channels on both sides
    for (int64_t n = 0; n < length; ++n) {
      float sum = 0;
      for (int channel = 0; channel < audio.channels; ++channel) sum += in(channel)[n];
      left[n] = right[n] = sum / static_cast<float>(audio.channels);
    }
  }
  return out;
}

AudioBuffer resample_audio(const AudioBuffer& audio, int sample_rate) {
  if (audio.sample_rate == sample_rate || audio.frames() == 0) {
    AudioBuffer out = audio;
    out.sample_rate = sample_rate;
    return out;
  }
  AVChannelLayout layout = layout_of(audio.channels);
  SwrContext* raw = nullptr;
  swr_alloc_set_opts2(&raw, &layout, AV_SAMPLE_FMT_FLTP, sample_rate, &layout, AV_SAMPLE_FMT_FLTP,
                      audio.sample_rate, 0, nullptr);
  ResamplerPtr resampler(raw);
  av_channel_layout_uninit(&layout);
  if (!resampler || swr_init(resampler.get()) < 0) {
    throw core::InternalError(
        fmt::format("swresample cannot convert {} Hz to {} Hz", audio.sample_rate, sample_rate));
  }
  const int64_t in_length = audio.frames();
  const int64_t capacity = av_rescale_rnd(in_length, sample_rate, audio.sample_rate, AV_ROUND_UP) + 4096;
  std::vector<std::vector<float>> channels(audio.channels, std::vector<float>(capacity));
  std::vector<uint8_t*> out_ptrs(audio.channels);
  std::vector<const uint8_t*> in_ptrs(audio.channels);
  for (int channel = 0; channel < audio.channels; ++channel) {
    in_ptrs[channel] = reinterpret_cast<const uint8_t*>(audio.channel(channel));
    out_ptrs[channel] = reinterpret_cast<uint8_t*>(channels[channel].data());
  }
  const int converted = swr_convert(resampler.get(), out_ptrs.data(), static_cast<int>(capacity),
                                    in_ptrs.data(), static_cast<int>(in_length));
  if (converted < 0) throw core::InternalError("swresample failed: " + ffmpeg_error(converted));
  for (int channel = 0; channel < audio.channels; ++channel) {
    out_ptrs[channel] = reinterpret_cast<uint8_t*>(channels[channel].data() + converted);
  }
  const int flushed =
      swr_convert(resampler.get(), out_ptrs.data(), static_cast<int>(capacity - converted), nullptr, 0);
  const int64_t total = converted + std::max(flushed, 0);
  AudioBuffer out{sample_rate, audio.channels, {}};
  out.samples.reserve(static_cast<size_t>(total) * audio.channels);
  for (const auto& channel : channels)
    out.samples.insert(out.samples.end(), channel.begin(), channel.begin() + total);
  return out;
}

AudioBuffer stretch_audio(const AudioBuffer& audio, double ratio, bool preserve_pitch) {
  if (std::abs(ratio - 1.0) < 1e-9 || audio.frames() == 0) return audio;
  if (!preserve_pitch) {
    // Read the samples as if recorded at rate * ratio: the same sound `ratio` times as long, pitch / ratio.
    AudioBuffer relabeled = audio;
    relabeled.sample_rate = static_cast<int>(std::lround(audio.sample_rate / ratio));
    AudioBuffer out = resample_audio(relabeled, audio.sample_rate);
    return out;
  }
  const double tempo = 1.0 / ratio;  // the filters speak of tempo: > 1 plays faster
  if (avfilter_get_by_name("rubberband") != nullptr) {
    return run_aligned_filter(audio, fmt::format("rubberband=tempo={:.9f}:pitch=1", tempo), ratio);
  }
  // atempo accepts 0.5..100 per instance: chain halvings for slower tempos.
  std::string chain;
  double rest = tempo;
  while (rest < 0.5) {
    chain += "atempo=0.5,";
    rest /= 0.5;
  }
  chain += fmt::format("atempo={:.9f}", rest);
  core::logger("media").debug("FFmpeg lacks the rubberband filter: stretching with {}", chain);
  return run_aligned_filter(audio, chain, ratio);
}

float peak(const AudioBuffer& audio) {
  float value = 0;
  for (const float sample : audio.samples) value = std::max(value, std::abs(sample));
  return value;
}

bool normalize_peak_in_place(AudioBuffer& audio) {
  const float current = peak(audio);
  if (current <= 0.0f) return false;
  const float gain = static_cast<float>(kPeakTarget / current);
  for (float& sample : audio.samples) sample *= gain;
  return true;
}

AudioBuffer decode_audio(const std::filesystem::path& path) {
  auto input = open_input(path);
  const int audio_idx = find_audio_stream(*input);
  if (audio_idx < 0) {
    throw core::InvalidInput(
        path.string() +
        ": has no audio track; every clip needs one (DECISIONS.md §16). Add an audio track or "
        "use another clip.");
  }
  // The video stream's start is the clip's time 0 (probe's start_time), so audio and frames stay in sync.
  double origin = -1;
  for (unsigned stream_idx = 0; stream_idx < input->nb_streams; ++stream_idx) {
    const AVStream& stream = *input->streams[stream_idx];
    if (stream.codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(stream.disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      origin = stream.start_time == AV_NOPTS_VALUE ? 0.0 : to_seconds(stream.start_time, stream.time_base);
      break;
    }
  }
  const AVStream& stream = *input->streams[audio_idx];
  if (origin < 0)
    origin = stream.start_time == AV_NOPTS_VALUE ? 0.0 : to_seconds(stream.start_time, stream.time_base);
  for (unsigned stream_idx = 0; stream_idx < input->nb_streams; ++stream_idx) {
    if (static_cast<int>(stream_idx) != audio_idx) input->streams[stream_idx]->discard = AVDISCARD_ALL;
  }
  auto decoder = open_decoder(stream, path);

  int channel_count = 0, sample_rate = 0;
  std::vector<std::vector<float>> channels;
  int64_t skip = 0;  // samples before time 0 still to drop
  const auto take = [&](const AVFrame& frame) {
    const int frame_channels = frame.ch_layout.nb_channels;
    if (channel_count == 0) {
      channel_count = frame_channels;
      sample_rate = frame.sample_rate;
      channels.assign(channel_count, {});
      const int64_t timestamp =
          frame.best_effort_timestamp != AV_NOPTS_VALUE ? frame.best_effort_timestamp : frame.pts;
      const double start = timestamp == AV_NOPTS_VALUE ? origin : to_seconds(timestamp, stream.time_base);
      const int64_t offset = std::llround((start - origin) * sample_rate);
      if (offset > 0) {
        for (auto& channel : channels) channel.assign(offset, 0.0f);  // audio starts after the video: silence
      } else {
        skip = -offset;
      }
    }
    if (frame_channels != channel_count || frame.sample_rate != sample_rate) {
      throw core::InvalidInput(
          fmt::format("{}: its audio changes format mid-stream ({} ch {} Hz, then {} ch {} Hz). "
                      "Re-export it with one audio format.",
                      path.string(), channel_count, sample_rate, frame_channels, frame.sample_rate));
    }
    const int first = static_cast<int>(std::min<int64_t>(skip, frame.nb_samples));
    skip -= first;
    for (int channel = 0; channel < channel_count; ++channel) {
      auto& out = channels[channel];
      for (int n = first; n < frame.nb_samples; ++n)
        out.push_back(sample_as_float(frame, channel, n, channel_count));
    }
  };

  auto packet = make_packet();
  auto frame = make_frame();
  const auto receive_all = [&]() {
    while (avcodec_receive_frame(decoder.get(), frame.get()) >= 0) {
      take(*frame);
      av_frame_unref(frame.get());
    }
  };
  int status;
  while ((status = av_read_frame(input.get(), packet.get())) >= 0 || status == AVERROR(EAGAIN)) {
    if (status >= 0 && packet->stream_index == audio_idx) avcodec_send_packet(decoder.get(), packet.get());
    av_packet_unref(packet.get());
    receive_all();
  }
  if (status != AVERROR_EOF) {
    throw core::InvalidInput(fmt::format(
        "{}: reading its audio failed after {:.3f} s ({}). The file is truncated or "
        "corrupt: re-export it.",
        path.string(),
        channels.empty() || sample_rate == 0 ? 0.0 : static_cast<double>(channels[0].size()) / sample_rate,
        ffmpeg_error(status)));
  }
  avcodec_send_packet(decoder.get(), nullptr);
  receive_all();
  if (channel_count == 0) {
    throw core::InvalidInput(
        path.string() +
        ": its audio track holds no decodable samples. The file is truncated or corrupt: re-export it.");
  }
  AudioBuffer decoded{sample_rate, channel_count, {}};
  const size_t length = channels[0].size();
  decoded.samples.reserve(length * channel_count);
  for (const auto& channel : channels)
    decoded.samples.insert(decoded.samples.end(), channel.begin(), channel.end());
  return to_stereo(decoded);
}

AudioBuffer fit_audio(const AudioBuffer& decoded, double clip_duration, const AudioFitOptions& options,
                      const std::string& name) {
  if (options.frames <= 0 || options.fps <= 0) {
    throw core::InvalidInput(
        fmt::format("audio fit needs a positive frame count and fps; got {} frames at {} fps", options.frames,
                    options.fps));
  }
  auto& log = core::logger("media");
  const double window = options.frames / options.fps;
  const int source_rate = decoded.sample_rate;
  const int rate = options.output_rate > 0 ? options.output_rate : source_rate;
  AudioBuffer clip;
  if (options.auto_scale) {
    // The whole clip [0, D) becomes [0, F/fps) (DECISIONS.md §11).
    const int64_t source_samples = std::llround(clip_duration * source_rate);
    if (decoded.frames() + kPaddingWarningSeconds * source_rate < source_samples) {
      log.warn("{}: audio lasts {:.3f} s, the video {:.3f} s: padded with silence", name, decoded.duration(),
               clip_duration);
    }
    clip =
        stretch_audio(trim_or_pad(decoded, source_samples), window / clip_duration, options.preserve_pitch);
  } else {
    const int64_t needed = window_samples(options.frames, options.fps, source_rate);
    if (decoded.frames() + kPaddingWarningSeconds * source_rate < needed) {
      log.warn("{}: audio lasts {:.3f} s, the window needs {:.3f} s: padded with silence", name,
               decoded.duration(), window);
    }
    clip = trim_or_pad(decoded, needed + (rate != source_rate ? 256 : 0));  // margin for the resampler's edge
  }
  if (rate != source_rate) clip = resample_audio(clip, rate);
  clip = trim_or_pad(clip, window_samples(options.frames, options.fps, rate));
  if (options.normalize && !normalize_peak_in_place(clip)) {
    log.warn("{}: its audio is digital silence in the window; left unnormalized", name);
  }
  return clip;
}

AudioBuffer fit_audio(const std::filesystem::path& path, const AudioFitOptions& options) {
  const AudioBuffer decoded = decode_audio(path);
  double clip_duration = decoded.duration();
  if (options.auto_scale)
    clip_duration = options.video_duration > 0 ? options.video_duration : probe(path).video.duration;
  return fit_audio(decoded, clip_duration, options, path.string());
}

}  // namespace avtrain::media
