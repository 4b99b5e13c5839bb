#include "media/frame_resize.h"

#include "media/ffmpeg_handles.h"

namespace avtrain::media {

VideoFrames resize_frames(const VideoFrames& frames, int width, int height) {
  VideoFrames out{width, height, frames.fps, {}};
  const int count = frames.frame_count();
  out.rgb.resize(out.frame_bytes() * count);
  if (count == 0) return out;
  if (width == frames.width && height == frames.height) {
    out.rgb = frames.rgb;
    return out;
  }
  const ScalerPtr scaler =
      create_scaler(frames.width, frames.height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_RGB24);
  for (int frame_idx = 0; frame_idx < count; ++frame_idx) {
    const uint8_t* src[4] = {frames.frame(frame_idx), nullptr, nullptr, nullptr};
    const int src_stride[4] = {frames.width * 3, 0, 0, 0};
    uint8_t* dst[4] = {out.frame(frame_idx), nullptr, nullptr, nullptr};
    const int dst_stride[4] = {width * 3, 0, 0, 0};
    sws_scale(scaler.get(), src, src_stride, 0, frames.height, dst, dst_stride);
  }
  return out;
}

}  // namespace avtrain::media
