#include "media/stream_selection.h"

#include "core/error.h"
#include "media/ffmpeg_handles.h"

namespace avtrain::media {

int find_video_stream(const AVFormatContext& input, const std::filesystem::path& path) {
  for (unsigned stream_idx = 0; stream_idx < input.nb_streams; ++stream_idx) {
    const AVStream& stream = *input.streams[stream_idx];
    if (stream.codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(stream.disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      return static_cast<int>(stream_idx);
    }
  }
  const bool has_audio = find_audio_stream(input) >= 0;
  throw core::InvalidInput(path.string() + ": has no video stream" +
                           (has_audio ? std::string(" (it holds audio only)") : std::string()) +
                           ". Use a video clip (mp4, mov, webm, mkv or avi) with its audio track.");
}

int find_audio_stream(const AVFormatContext& input) {
  const int best =
      av_find_best_stream(const_cast<AVFormatContext*>(&input), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  return best >= 0 ? best : -1;
}

}  // namespace avtrain::media
