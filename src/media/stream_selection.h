#pragma once
// Which streams of a file the media layer reads: the first video stream that is not a cover picture,
// and FFmpeg's best audio stream.

#include <filesystem>

struct AVFormatContext;

namespace avtrain::media {

// Throws core::InvalidInput naming the file when it has no video stream (e.g. an audio-only file).
int find_video_stream(const AVFormatContext& input, const std::filesystem::path& path);

// -1 when the file has no audio stream.
int find_audio_stream(const AVFormatContext& input);

}  // namespace avtrain::media
