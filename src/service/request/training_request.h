#pragma once
// The request of the av2av training endpoint (MISSION.md "Request parameters"), parsed, checked and
// normalized: every type, default, range and allowed value, the 8k+1 frame-count snapping, the
// cross-field rules and the avtrain extension validation_interval. A bad request yields every
// problem at once as a 422 body (core::InvalidInput); a good one is a TrainingRequest with defaults
// filled in, frame counts snapped and notes for the user.
//
// The server calls check_training_request on POST bodies; the CLI's `train` and `validate` call
// parse_training_request; the job pipeline reads the fields and the derived sizes below.

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "service/request/buckets.h"
#include "service/request/field_reader.h"
#include "service/request/resource_location.h"

namespace avtrain::service {

inline constexpr int kMaxValidationEntries = 2;
inline constexpr std::array<int64_t, 5> kLoraRanks = {8, 16, 32, 64, 128};

// The default validation_negative_prompt, verbatim (DECISIONS.md §24).
extern const std::string_view kDefaultValidationNegativePrompt;

struct ValidationEntry {
  std::string prompt;
  std::string reference_video_url;
  // Absent: the reference video's own audio track (DECISIONS.md §19).
  std::optional<std::string> reference_audio_url;
  bool operator==(const ValidationEntry&) const = default;
};

// A frame count that was not 8k+1 and was snapped down (DECISIONS.md §14).
struct FrameSnap {
  std::string field;  // "number_of_frames" or "validation_number_of_frames"
  int requested = 0;
  int snapped = 0;
  bool operator==(const FrameSnap&) const = default;
};

struct TrainingRequest {
  std::string training_data_url;
  std::string trigger_phrase;
  int rank = 32;
  int number_of_steps = 2000;
  double learning_rate = 0.0002;
  int reference_downscale_factor = 1;
  int reference_temporal_scale_factor = 1;
  int number_of_frames = 89;  // snapped: always 8k+1
  int frame_rate = 24;
  Resolution resolution = Resolution::medium;
  AspectRatio aspect_ratio = AspectRatio::square_1_1;
  bool auto_scale_input = false;
  bool split_input_into_scenes = false;  // always false in an accepted request
  double split_input_duration_threshold = 30.0;
  bool audio_normalize = true;
  bool audio_preserve_pitch = true;
  std::vector<ValidationEntry> validation;
  std::string validation_negative_prompt{kDefaultValidationNegativePrompt};
  int validation_number_of_frames = 89;  // snapped: always 8k+1
  int validation_frame_rate = 24;
  Resolution validation_resolution = Resolution::high;
  AspectRatio validation_aspect_ratio = AspectRatio::square_1_1;
  double stg_scale = 1.0;
  bool debug_dataset = false;
  int validation_interval = 500;  // avtrain extension: 0 = only the last step (DECISIONS.md §23)

  std::vector<FrameSnap> snaps;  // every frame count that was snapped
  // What the user should know (not errors): ignored fields and values read from strings (lax parsing),
  // snaps, warnings.
  std::vector<std::string> notes;

  VideoSize training_size() const { return bucket_size(resolution, aspect_ratio); }
  VideoSize validation_size() const { return bucket_size(validation_resolution, validation_aspect_ratio); }
  // The reference clip's size, (W/d, H/d), in training and at validation (DECISIONS.md §12).
  VideoSize reference_training_size() const {
    return reference_size(training_size(), reference_downscale_factor);
  }
  VideoSize reference_validation_size() const {
    return reference_size(validation_size(), reference_downscale_factor);
  }
  // Frames of the temporally subsampled reference, and their rate frame_rate / S (DECISIONS.md §15).
  int reference_frame_count() const {
    return service::reference_frame_count(number_of_frames, reference_temporal_scale_factor);
  }
  int reference_validation_frame_count() const {
    return service::reference_frame_count(validation_number_of_frames, reference_temporal_scale_factor);
  }
  double reference_frame_rate() const {
    return static_cast<double>(frame_rate) / reference_temporal_scale_factor;
  }
  double reference_validation_frame_rate() const {
    return static_cast<double>(validation_frame_rate) / reference_temporal_scale_factor;
  }
};

// Either a request or every problem found (never both).
struct RequestCheck {
  std::optional<TrainingRequest> request;
  std::vector<core::Problem> problems;
};

// `body` is the JSON text of a request (a syntax error is one json_invalid problem); the _json forms
// take an already parsed body (named apart: a std::string converts to both). Local files
// (file:// URLs and plain paths) are checked against `local_files` (DECISIONS.md §21). Lax parsing
// (the product's, DECISIONS.md §33) or strict: service/request/field_reader.h.
RequestCheck check_training_request(std::string_view body, const LocalFilePolicy& local_files,
                                    RequestParsing parsing = RequestParsing::lax);
RequestCheck check_training_request_json(const nlohmann::ordered_json& body,
                                         const LocalFilePolicy& local_files,
                                         RequestParsing parsing = RequestParsing::lax);
// As above, but throws core::InvalidInput carrying every problem.
TrainingRequest parse_training_request(std::string_view body, const LocalFilePolicy& local_files,
                                       RequestParsing parsing = RequestParsing::lax);
TrainingRequest parse_training_request_json(const nlohmann::ordered_json& body,
                                            const LocalFilePolicy& local_files,
                                            RequestParsing parsing = RequestParsing::lax);

// The request as normalized: every field in MISSION.md's order, defaults filled in, frame counts
// snapped; reference_audio_url only where given. Parsing it again yields the same request.
nlohmann::ordered_json to_json(const TrainingRequest& request);

// What `avtrain validate` prints: the normalized request (to_json) followed by four output-only keys,
// "notes" (strings), "snapped" ([{field, requested, snapped}]), "sizes" ({training, training_reference,
// validation, validation_reference}: width, height, frames, frame_rate) and "billing" (units and exact
// cost if the job delivers). Strip those four keys to resubmit it.
nlohmann::ordered_json describe_training_request(const TrainingRequest& request);

}  // namespace avtrain::service
