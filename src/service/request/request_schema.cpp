#include "service/request/request_schema.h"

#include "service/request/billing.h"
#include "service/request/buckets.h"
#include "service/request/training_request.h"

namespace avtrain::service {
namespace {

using nlohmann::ordered_json;

ordered_json field(const char* name, const char* type, const char* help) {
  return {{"name", name}, {"type", type}, {"required", false}, {"help", help}};
}

ordered_json integer(const char* name, int minimum, int maximum, const char* help) {
  auto described = field(name, "integer", help);
  described["minimum"] = minimum;
  described["maximum"] = maximum;
  return described;
}

ordered_json number(const char* name, double minimum, double maximum, const char* help) {
  auto described = field(name, "number", help);
  described["minimum"] = minimum;
  described["maximum"] = maximum;
  return described;
}

ordered_json choice(const char* name, ordered_json choices, const char* help) {
  auto described = field(name, "choice", help);
  described["choices"] = std::move(choices);
  return described;
}

ordered_json resolutions() {
  ordered_json names = ordered_json::array();
  for (const auto resolution : kResolutions) names.push_back(to_string(resolution));
  return names;
}

ordered_json aspect_ratios() {
  ordered_json names = ordered_json::array();
  for (const auto ratio : kAspectRatios) names.push_back(to_string(ratio));
  return names;
}

}  // namespace

ordered_json request_schema() {
  auto frames = integer("number_of_frames", 9, 121,
                        "frames per clip; must be 8k+1, other values snap DOWN to the nearest valid count");
  frames["snap"] = "8k+1";
  auto validation_frames =
      integer("validation_number_of_frames", 9, 121, "frames of each preview (8k+1, snapped down)");
  validation_frames["snap"] = "8k+1";
  auto learning_rate = field("learning_rate", "number", "the optimizer's learning rate (above 0)");
  learning_rate["exclusive_minimum"] = 0;
  auto data_url =
      field("training_data_url", "url",
            "the .zip of <name>_start / <name>_end clip pairs (with audio) and optional <name>.txt captions");
  data_url["required"] = true;
  auto validation =
      field("validation", "validation",
            "preview clips made while training: a prompt and a reference video (and optionally a "
            "separate reference audio); at most 2");
  validation["max_items"] = kMaxValidationEntries;
  validation["item_fields"] =
      ordered_json::array({{{"name", "prompt"},
                            {"type", "string"},
                            {"required", false},
                            {"help", "what to generate; include the trigger phrase"}},
                           {{"name", "reference_video_url"},
                            {"type", "url"},
                            {"required", true},
                            {"help", "the reference clip (video with its audio)"}},
                           {{"name", "reference_audio_url"},
                            {"type", "url"},
                            {"required", false},
                            {"help", "a separate reference audio (else the reference video's own track)"}}});

  ordered_json fields = ordered_json::array(
      {data_url,
       field("trigger_phrase", "string", "prepended to every caption (with a space)"),
       choice("rank", kLoraRanks, "LoRA rank"),
       integer("number_of_steps", 100, 20000, "optimizer steps"),
       learning_rate,
       integer("reference_downscale_factor", 1, 8,
               "spatial downscale of the reference video before encoding"),
       integer("reference_temporal_scale_factor", 1, 8,
               "temporal downsampling (lower fps) of the reference video"),
       frames,
       integer("frame_rate", 8, 60, "target fps"),
       choice("resolution", resolutions(),
              "training size bucket (low 512, medium 768, high 960 on the long side)"),
       choice("aspect_ratio", aspect_ratios(), "training aspect ratio"),
       field("auto_scale_input", "boolean", "fit clips to frame count and fps"),
       field("split_input_into_scenes", "boolean", "must stay off for this mode (it would desync pairs)"),
       number("split_input_duration_threshold", 1.0, 60.0, "accepted, unused in this mode"),
       field("audio_normalize", "boolean", "peak-normalize audio"),
       field("audio_preserve_pitch", "boolean", "preserve pitch when fitting audio to the video duration"),
       validation,
       field("validation_negative_prompt", "string", "what previews should avoid"),
       validation_frames,
       integer("validation_frame_rate", 8, 60, "fps of each preview"),
       choice("validation_resolution", resolutions(), "preview size bucket"),
       choice("validation_aspect_ratio", aspect_ratios(), "preview aspect ratio"),
       number("stg_scale", 0.0, 3.0, "spatio-temporal guidance scale at validation"),
       field("debug_dataset", "boolean", "also return an archive of the preprocessed data"),
       integer("validation_interval", 0, 20000,
               "preview every N steps (0 = only at the last step); the last step always validates")});
  const auto defaults = to_json(TrainingRequest{});
  for (auto& described : fields) {
    const std::string name = described["name"];
    described["default"] = name == "training_data_url" ? ordered_json(nullptr) : defaults.at(name);
  }
  return {{"fields", std::move(fields)},
          {"billing", {{"unit_usd", kPricePerUnitUsd}, {"minimum_units", kMinimumBilledUnits}}}};
}

}  // namespace avtrain::service
