#pragma once
// Decode a clip's audio and fit it to the video window (DECISIONS.md §4, §5, §11, §16; trainer.md
// §1.7): float stereo, the exact window [0, F/fps), time-stretched when the clip is auto-scaled
// (pitch preserved with FFmpeg's rubberband filter, atempo where it is missing, or plain resampling),
// optionally resampled for output files, peak-normalized to -1 dBFS.

#include <cstdint>
#include <filesystem>
#include <string>

#include "media/buffers.h"

namespace avtrain::media {

constexpr int kOutputSampleRate = 48000;      // AAC in written files (DECISIONS.md §25)
constexpr double kPeakTarget = 0.8912509381;  // -1 dBFS = 10^(-1/20) (DECISIONS.md §16)

struct AudioFitOptions {
  int frames = 0;              // F
  double fps = 0;              // frame_rate: the window is F / fps seconds
  bool auto_scale = false;     // stretch the clip's whole video duration D to F / fps (§11)
  bool preserve_pitch = true;  // audio_preserve_pitch: Rubber Band; false: plain resampling (pitch moves)
  bool normalize = true;       // audio_normalize: peak to -1 dBFS
  int output_rate = 0;  // 0: the source rate, for the model (its front end resamples, §4); else e.g. 48000
  // auto_scale: the duration D of the video this audio goes with; 0: the file's own video stream. A
  // separate reference audio (an audio-only file has no video) passes its reference video's duration, so
  // the audio is stretched as that video is.
  double video_duration = 0;
};

// The whole audio track as stereo float at the source rate (mono duplicated, more channels downmixed
// with the trainer's coefficients, §5). Time 0 is the start of the file's video stream (of the audio
// stream in an audio-only file), so the audio stays in sync with fit_video's frames.
// Throws core::InvalidInput naming the file when it has no audio track (§16) or cannot be read.
AudioBuffer decode_audio(const std::filesystem::path& path);

// decode_audio, then window / stretch / resample / normalize as `options` say. The result holds exactly
// window_samples(F, fps, rate) samples per channel.
AudioBuffer fit_audio(const std::filesystem::path& path, const AudioFitOptions& options);
// The same on an already decoded track; `clip_duration` is D (the video's duration) for auto-scale.
AudioBuffer fit_audio(const AudioBuffer& decoded, double clip_duration, const AudioFitOptions& options,
                      const std::string& name);

// floor(F * rate / fps): the window length in samples (trainer.md §1.7 path (a) truncates).
int64_t window_samples(int frames, double fps, int sample_rate);

// The first `samples` samples per channel, padded with silence when shorter.
AudioBuffer trim_or_pad(const AudioBuffer& audio, int64_t samples);

// Stereo from any channel count with the trainer's coefficients (trainer.md §1.7).
AudioBuffer to_stereo(const AudioBuffer& audio);

// Plays `audio` `ratio` times as long: Rubber Band through FFmpeg's filter when preserve_pitch (atempo
// when the rubberband filter is missing), otherwise resampling (pitch moves with the speed).
AudioBuffer stretch_audio(const AudioBuffer& audio, double ratio, bool preserve_pitch);

// swresample to `sample_rate`.
AudioBuffer resample_audio(const AudioBuffer& audio, int sample_rate);

// Scales so that the peak is kPeakTarget; returns false (and leaves it) when it is all digital silence.
bool normalize_peak_in_place(AudioBuffer& audio);

// Largest absolute sample.
float peak(const AudioBuffer& audio);

}  // namespace avtrain::media
