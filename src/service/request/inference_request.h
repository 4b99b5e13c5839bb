#pragma once
// The request of a try-it job (POST {prefix}/infer, issue 26): a finished training job's LoRA applied to
// a new reference clip, run in the same queue as training and billed 0. Read like a training request
// (lax, every problem at once as a 422 body; service/request/field_reader.h). docs/api.md lists the fields.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "service/request/buckets.h"
#include "service/request/resource_location.h"

namespace avtrain::service {

struct InferenceRequest {
  std::string request_id;  // the succeeded training job whose LoRA is applied (the caller's own)
  std::string reference_video_url;
  std::optional<std::string> reference_audio_url;  // absent: the reference video's own track
  std::string prompt;
  std::string negative_prompt;  // the built-in default when not given
  int number_of_frames = 89;    // snapped: always 8k+1
  int frame_rate = 24;
  Resolution resolution = Resolution::high;
  AspectRatio aspect_ratio = AspectRatio::square_1_1;
  int num_inference_steps = 30;
  int64_t seed = 42;
  double lora_strength = 1.0;
  double stg_scale = 1.0;
  bool auto_scale_input = false;
  std::vector<std::string> notes;  // ignored fields, coerced values, a snapped frame count

  VideoSize size() const { return bucket_size(resolution, aspect_ratio); }
};

struct InferenceRequestCheck {
  std::optional<InferenceRequest> request;
  std::vector<core::Problem> problems;
  std::string request_id;  // as read, also when other fields have problems (the server checks it too)
};

InferenceRequestCheck check_inference_request(std::string_view body, const LocalFilePolicy& local_files);
InferenceRequestCheck check_inference_request_json(const nlohmann::ordered_json& body,
                                                   const LocalFilePolicy& local_files);
// The request as normalized (every field, defaults filled in), which parse_inference_request_json reads
// back the same.
nlohmann::ordered_json to_json(const InferenceRequest& request);
InferenceRequest parse_inference_request_json(const nlohmann::ordered_json& body,
                                              const LocalFilePolicy& local_files);

}  // namespace avtrain::service
