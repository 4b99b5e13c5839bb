#pragma once
// What the dataset needs from a training request (MISSION.md "Request parameters"): the bucket, the
// frame count and rate, the reference scaling, the audio options and the trigger phrase. The service
// fills it from its validated TrainingRequest (frames already snapped to 8k+1, factors checked).

#include <string>

namespace avtrain::dataset {

struct DatasetOptions {
  int width = 768, height = 768;  // resolution bucket (medium, 1:1 by default)
  int frames = 89;                // number_of_frames, 8k+1
  int frame_rate = 24;
  int reference_downscale = 1;    // reference_downscale_factor d
  int reference_temporal = 1;     // reference_temporal_scale_factor S
  bool auto_scale_input = false;
  bool audio_normalize = true;
  bool audio_preserve_pitch = true;
  std::string trigger_phrase;

  // F / frame_rate: the window every clip is fitted to, seconds.
  double window_seconds() const { return static_cast<double>(frames) / frame_rate; }
};

// A dataset smaller than this works but warns (MISSION.md: "aim for at least 10").
inline constexpr int kRecommendedPairCount = 10;

}  // namespace avtrain::dataset
