#pragma once
// Preprocessing of the qualifying pairs into model-ready tensors (MISSION.md "Processing" step 1;
// DECISIONS.md §10-18), written per pair as `<work>/pairs/<name>.safetensors`:
//   target_video     [3, F, H, W]            float32 in [-1, 1]
//   reference_video  [3, F_ref, H/d, W/d]    float32 in [-1, 1], F_ref = frames [0, 1, 1+S, ...] < F
//   target_audio     [2, N]                  float32 PCM at the target clip's own rate (§4), F / fps s
//   reference_audio  [2, N_ref]              float32 PCM at the reference clip's own rate
// with metadata name, prompt, frame_rate, reference_fps, target_sample_rate, reference_sample_rate.
// A manifest (`<work>/manifest.json`) records every pair, decision, skip and warning.

#include <filesystem>
#include <string>
#include <vector>

#include "dataset/dataset_check.h"
#include "dataset/dataset_options.h"

namespace at {
class Tensor;
}
namespace avtrain::media {
struct VideoFrames;
struct AudioBuffer;
}  // namespace avtrain::media
namespace avtrain::core {
class Progress;
}

namespace avtrain::dataset {

inline constexpr const char* kTargetVideoKey = "target_video";
inline constexpr const char* kReferenceVideoKey = "reference_video";
inline constexpr const char* kTargetAudioKey = "target_audio";
inline constexpr const char* kReferenceAudioKey = "reference_audio";

struct PreparedPair {
  std::string name;
  std::filesystem::path tensors;  // <work>/pairs/<name>.safetensors
  std::string prompt;             // trigger phrase + " " + caption, trimmed (DECISIONS.md §18)
  int target_frames = 0, reference_frames = 0;
  int target_sample_rate = 0, reference_sample_rate = 0;
  std::vector<std::string> warnings;  // padded or silent audio
  // With debug output: the fitted clips as mp4 with their fitted audio.
  std::filesystem::path debug_reference, debug_target;
};

struct PreparedDataset {
  DatasetReport report;
  std::vector<PreparedPair> pairs;  // the qualifying pairs, in name order
  std::filesystem::path manifest;   // <work>/manifest.json
};

// [3, F, H, W] uint8 from RGB8 frames: how a pair file keeps its clips (a quarter of float32's size).
at::Tensor rgb8_tensor(const media::VideoFrames& frames);
// [3, F, H, W] float32 in [-1, 1] from RGB8 frames.
at::Tensor video_tensor(const media::VideoFrames& frames);
// The same from a pair file's clip: rgb8_tensor's layout, or float32 as pair files held it before.
at::Tensor video_tensor(const at::Tensor& stored);
// [channels, N] float32 from planar PCM.
at::Tensor audio_tensor(const media::AudioBuffer& audio);

// prompt = trigger_phrase + " " + caption, trimmed (DECISIONS.md §18).
std::string make_prompt(const std::string& trigger_phrase, const std::string& caption);

// check_dataset (extracting into <work>/extracted), core::DatasetRejected when rejected, then every
// qualifying pair through the media layer into its tensor file, and the manifest. With `debug`, each
// pair's fitted reference and target are also written as mp4 (with their fitted audio, 48 kHz AAC)
// and its prompt as text under <work>/debug/ for the debug archive.
PreparedDataset prepare_dataset(const std::filesystem::path& archive, const std::filesystem::path& work_dir,
                                const std::string& archive_name, const DatasetOptions& options, bool debug = false,
                                const ArchiveLimits& limits = {}, core::Progress* progress = nullptr);

}  // namespace avtrain::dataset
