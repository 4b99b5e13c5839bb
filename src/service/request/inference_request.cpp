#include "service/request/inference_request.h"

#include <array>
#include <nlohmann/json.hpp>

#include "core/json_text.h"
#include "service/request/field_reader.h"
#include "service/request/training_request.h"

namespace avtrain::service {
namespace {

constexpr std::array<std::string_view, 14> kFields = {"request_id",
                                                      "reference_video_url",
                                                      "reference_audio_url",
                                                      "prompt",
                                                      "negative_prompt",
                                                      "number_of_frames",
                                                      "frame_rate",
                                                      "resolution",
                                                      "aspect_ratio",
                                                      "num_inference_steps",
                                                      "seed",
                                                      "lora_strength",
                                                      "stg_scale",
                                                      "auto_scale_input"};

template <typename T, typename U>
void take(const std::optional<U>& value, T& field) {
  if (value) field = static_cast<T>(*value);
}

}  // namespace

InferenceRequestCheck check_inference_request_json(const Json& body, const LocalFilePolicy& local_files) {
  InferenceRequestCheck check;
  if (!body.is_object()) {
    check.problems.push_back(
        {{"body"},
         "the request body must be a JSON object, got " + describe_json_value(body) +
             ": send {\"request_id\": \"...\", \"reference_video_url\": \"...\", \"prompt\": \"...\"}",
         "model_attributes_type"});
    return check;
  }
  InferenceRequest request;
  auto& problems = check.problems;
  FieldReader reader(body, {"body"}, "", RequestParsing::lax, problems, request.notes);
  take(reader.string("request_id", std::nullopt, "name the finished training job whose LoRA to apply"),
       request.request_id);
  if (const auto url =
          reader.string("reference_video_url", std::nullopt, "add the URL of the reference clip")) {
    request.reference_video_url = *url;
    check_location_field(reader, "reference_video_url", *url, local_files);
  }
  if (reader.present("reference_audio_url")) {
    if (const auto url = reader.string("reference_audio_url", std::nullopt)) {
      request.reference_audio_url = *url;
      check_location_field(reader, "reference_audio_url", *url, local_files);
    }
  }
  take(reader.string("prompt", std::nullopt, "write what to generate, with the LoRA's trigger phrase"),
       request.prompt);
  take(reader.string("negative_prompt", std::string(kDefaultValidationNegativePrompt)),
       request.negative_prompt);
  const auto frames = reader.integer("number_of_frames", 89, kMinFrameCount, kMaxFrameCount);
  take(frames, request.number_of_frames);
  take(reader.integer("frame_rate", 24, 8, 60), request.frame_rate);
  if (const auto text = reader.string_choice("resolution", "high", kResolutionNames))
    request.resolution = *parse_resolution(*text);
  if (const auto text = reader.string_choice("aspect_ratio", "1:1", kAspectRatioNames))
    request.aspect_ratio = *parse_aspect_ratio(*text);
  take(reader.integer("num_inference_steps", 30, 2, 100), request.num_inference_steps);
  take(reader.integer("seed", 42, 0, int64_t{1} << 53), request.seed);
  take(reader.number("lora_strength", 1.0, 0.0, false, 2.0), request.lora_strength);
  take(reader.number("stg_scale", 1.0, 0.0, false, 3.0), request.stg_scale);
  take(reader.boolean("auto_scale_input", false), request.auto_scale_input);
  reader.check_unknown(kFields);
  if (frames) {
    const int snapped = snap_frame_count(request.number_of_frames);
    if (snapped != request.number_of_frames) {
      request.notes.push_back("number_of_frames=" + std::to_string(request.number_of_frames) +
                              " snapped down to " + std::to_string(snapped) + " (frame counts are 8k+1)");
      request.number_of_frames = snapped;
    }
  }
  check.request_id = request.request_id;
  if (problems.empty()) check.request = std::move(request);
  return check;
}

InferenceRequestCheck check_inference_request(std::string_view body, const LocalFilePolicy& local_files) {
  Json parsed;
  try {
    parsed = Json::parse(body);
  } catch (const Json::exception& error) {
    InferenceRequestCheck check;
    check.problems.push_back(
        {{"body"},
         "the request body is not valid JSON (" + core::json_failure_text(error) + "): send one JSON object",
         "json_invalid"});
    return check;
  }
  return check_inference_request_json(parsed, local_files);
}

Json to_json(const InferenceRequest& request) {
  Json json{{"request_id", request.request_id}, {"reference_video_url", request.reference_video_url}};
  if (request.reference_audio_url) json["reference_audio_url"] = *request.reference_audio_url;
  json["prompt"] = request.prompt;
  json["negative_prompt"] = request.negative_prompt;
  json["number_of_frames"] = request.number_of_frames;
  json["frame_rate"] = request.frame_rate;
  json["resolution"] = to_string(request.resolution);
  json["aspect_ratio"] = to_string(request.aspect_ratio);
  json["num_inference_steps"] = request.num_inference_steps;
  json["seed"] = request.seed;
  json["lora_strength"] = request.lora_strength;
  json["stg_scale"] = request.stg_scale;
  json["auto_scale_input"] = request.auto_scale_input;
  return json;
}

InferenceRequest parse_inference_request_json(const Json& body, const LocalFilePolicy& local_files) {
  auto check = check_inference_request_json(body, local_files);
  if (!check.request) throw core::InvalidInput(std::move(check.problems));
  return std::move(*check.request);
}

}  // namespace avtrain::service
