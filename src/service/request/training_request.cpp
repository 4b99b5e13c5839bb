#include "service/request/training_request.h"

#include <array>
#include <nlohmann/json.hpp>
#include <set>

#include "core/json_text.h"
#include "service/request/billing.h"
#include "service/request/field_reader.h"

namespace avtrain::service {

const std::string_view kDefaultValidationNegativePrompt =
    "blurry, out of focus, low resolution, noisy, grainy, flickering, jittery motion, warped or deformed "
    "bodies, "
    "extra limbs, artifacts, watermark, text overlay, bad lighting, washed out colors, distorted audio, "
    "clipping, "
    "muffled sound, robotic voice, echo, background hiss, silence, off-sync speech, mismatched lip sync";

namespace {

// MISSION.md's parameter table, in its order (also the order of to_json and of unknown-field hints).
constexpr std::array<std::string_view, 25> kRequestFields = {"training_data_url",
                                                             "trigger_phrase",
                                                             "rank",
                                                             "number_of_steps",
                                                             "learning_rate",
                                                             "reference_downscale_factor",
                                                             "reference_temporal_scale_factor",
                                                             "number_of_frames",
                                                             "frame_rate",
                                                             "resolution",
                                                             "aspect_ratio",
                                                             "auto_scale_input",
                                                             "split_input_into_scenes",
                                                             "split_input_duration_threshold",
                                                             "audio_normalize",
                                                             "audio_preserve_pitch",
                                                             "validation",
                                                             "validation_negative_prompt",
                                                             "validation_number_of_frames",
                                                             "validation_frame_rate",
                                                             "validation_resolution",
                                                             "validation_aspect_ratio",
                                                             "stg_scale",
                                                             "debug_dataset",
                                                             "validation_interval"};
constexpr std::array<std::string_view, 3> kValidationFields = {"prompt", "reference_video_url",
                                                               "reference_audio_url"};

// "1", "1 or 2", "1, 2, 3, 5 or 6".
std::string alternatives(const std::vector<std::string>& items) {
  std::string text;
  for (size_t idx = 0; idx < items.size(); ++idx) {
    if (idx > 0) text += idx + 1 == items.size() ? " or " : ", ";
    text += items[idx];
  }
  return text;
}

std::string alternatives(const std::vector<int>& values) {
  std::vector<std::string> items;
  for (const int value : values) items.push_back(std::to_string(value));
  return alternatives(items);
}

// The fields whose value was refused: cross-field rules involving them are not checked.
class Validity {
 public:
  template <typename T, typename U>
  void take(const std::optional<T>& value, U& target, std::string_view field) {
    if (value) {
      target = static_cast<U>(*value);
    } else {
      refused_.emplace(field);
    }
  }
  void refuse(std::string_view field) { refused_.emplace(field); }
  bool ok(std::initializer_list<std::string_view> fields) const {
    for (const auto field : fields) {
      if (refused_.count(std::string(field))) return false;
    }
    return true;
  }

 private:
  std::set<std::string> refused_;
};

// Frame counts in range snap down to 8k+1; each snap is recorded (DECISIONS.md §14).
void snap_frames(TrainingRequest& request, int& frames, std::string_view field) {
  const int snapped = snap_frame_count(frames);
  if (snapped == frames) return;
  request.snaps.push_back({std::string(field), frames, snapped});
  request.notes.push_back(std::string(field) + " " + std::to_string(frames) + " snapped down to " +
                          std::to_string(snapped) + " (frame counts are 8k+1: 9, 17, 25, ..., 121)");
  frames = snapped;
}

std::vector<ValidationEntry> read_validation(FieldReader& reader, Validity& validity,
                                             const LocalFilePolicy& local_files, RequestParsing parsing,
                                             std::vector<core::Problem>& problems,
                                             std::vector<std::string>& notes) {
  std::vector<ValidationEntry> entries;
  const Json* list = reader.find("validation");
  if (!list) return entries;
  if (!list->is_array()) {
    reader.add_problem(
        "validation", "list_type",
        "validation must be an array of at most 2 objects {\"prompt\", \"reference_video_url\", "
        "\"reference_audio_url\"}, got " +
            describe_json_value(*list) +
            (list->is_object() ? ": wrap the object in [ ]" : ": write [] for none"));
    validity.refuse("validation");
    return entries;
  }
  bool all_ok = true;
  for (size_t entry_idx = 0; entry_idx < list->size(); ++entry_idx) {
    const Json& item = (*list)[entry_idx];
    const std::string index = std::to_string(entry_idx);
    const std::string label = "validation[" + index + "]";
    if (!item.is_object()) {
      problems.push_back({{"body", "validation", index},
                          label +
                              " must be an object {\"prompt\": ..., \"reference_video_url\": ..., "
                              "\"reference_audio_url\": ... (optional)}, got " +
                              describe_json_value(item),
                          "model_type"});
      all_ok = false;
      continue;
    }
    const size_t problems_before = problems.size();
    FieldReader entry_reader(item, {"body", "validation", index}, label + ".", parsing, problems, notes);
    ValidationEntry entry;
    if (const auto prompt = entry_reader.string("prompt", std::nullopt,
                                                "add the text of the preview (with the trigger phrase)")) {
      entry.prompt = *prompt;
    }
    if (const auto video =
            entry_reader.string("reference_video_url", std::nullopt,
                                "add the URL of the reference clip (video with audio) to transform")) {
      entry.reference_video_url = *video;
      check_location_field(entry_reader, "reference_video_url", *video, local_files);
    }
    // Optional without a default: null means absent (DECISIONS.md §19: the video's own audio).
    if (entry_reader.present("reference_audio_url")) {
      if (const auto audio = entry_reader.string("reference_audio_url", std::nullopt)) {
        entry.reference_audio_url = *audio;
        check_location_field(entry_reader, "reference_audio_url", *audio, local_files);
      }
    }
    entry_reader.check_unknown(kValidationFields);
    if (problems.size() != problems_before) all_ok = false;
    entries.push_back(std::move(entry));
  }
  if (list->size() > static_cast<size_t>(kMaxValidationEntries)) {
    reader.add_problem("validation", "too_long",
                       "validation has " + std::to_string(list->size()) + " entries, at most " +
                           std::to_string(kMaxValidationEntries) + " are allowed: remove " +
                           std::to_string(list->size() - kMaxValidationEntries));
    all_ok = false;
  }
  if (!all_ok) validity.refuse("validation");
  return entries;
}

// Sizes that accept a downscale factor, e.g. "low 1:1 (512x512), medium 1:1 (768x768)".
std::string sizes_fitting(int factor) {
  std::vector<std::string> sizes;
  for (const auto resolution : kResolutions) {
    for (const auto aspect_ratio : kAspectRatios) {
      const auto size = bucket_size(resolution, aspect_ratio);
      if (downscale_fits(size, factor)) {
        sizes.push_back(std::string(to_string(resolution)) + " " + std::string(to_string(aspect_ratio)) +
                        " (" + to_string(size) + ")");
      }
    }
  }
  return alternatives(sizes);
}

// reference_downscale_factor against one bucket (MISSION.md cross-field rules).
void check_downscale(FieldReader& reader, int factor, Resolution resolution, AspectRatio aspect_ratio,
                     bool validation) {
  const VideoSize size = bucket_size(resolution, aspect_ratio);
  const std::string why = downscale_misfit(size, factor);
  if (why.empty()) return;
  const std::string prefix = validation ? "validation_" : "";
  std::string msg = "reference_downscale_factor=" + std::to_string(factor) + " does not fit the " +
                    (validation ? "validation" : "training") + " size " + to_string(size) + " (" + prefix +
                    "resolution " + std::string(to_string(resolution)) + ", " + prefix + "aspect_ratio " +
                    std::string(to_string(aspect_ratio)) + "): " + why + ". Use " +
                    alternatives(fitting_downscale_factors(size));
  const std::string fitting = sizes_fitting(factor);
  if (fitting.empty()) {
    msg += "; no resolution accepts " + std::to_string(factor);
  } else {
    msg += ", or set " + prefix + "resolution and " + prefix + "aspect_ratio to a size that " +
           std::to_string(factor) + " fits: " + fitting;
  }
  reader.add_problem("reference_downscale_factor", "value_error", std::move(msg));
}

// reference_temporal_scale_factor against one (snapped) frame count.
void check_temporal(FieldReader& reader, const TrainingRequest& request, int factor, int frames,
                    std::string_view field) {
  if (temporal_factor_fits(frames, factor)) return;
  std::string frames_text = std::to_string(frames) + " frames";
  for (const auto& snap : request.snaps) {
    if (snap.field == field) {
      frames_text +=
          " (" + std::to_string(snap.requested) + " snapped down to " + std::to_string(snap.snapped) + ")";
    }
  }
  const bool validation = field != "number_of_frames";
  std::vector<int> nearby;
  const auto counts = frame_counts_for_temporal_factor(factor);
  for (auto it = counts.rbegin(); it != counts.rend(); ++it) {
    if (*it < frames) {
      nearby.push_back(*it);
      break;
    }
  }
  for (const int count : counts) {
    if (count > frames) {
      nearby.push_back(count);
      break;
    }
  }
  std::string msg = "reference_temporal_scale_factor=" + std::to_string(factor) + " needs (" +
                    std::string(field) + "-1)/" + std::to_string(factor) + " to be a multiple of " +
                    std::to_string(kVaeTemporalCompression) + ": with " + frames_text + " use " +
                    alternatives(fitting_temporal_factors(frames));
  if (!nearby.empty()) {
    msg += validation ? ", or set validation_number_of_frames to " + alternatives(nearby)
                      : ", or use " + alternatives(nearby) + " frames";
  }
  reader.add_problem("reference_temporal_scale_factor", "value_error", std::move(msg));
}

void add_notes(TrainingRequest& request, const Json& body) {
  if (request.validation.empty()) {
    request.notes.push_back(
        "validation is empty: no validation reel is rendered (the result's video is null)");
  }
  std::string trigger = request.trigger_phrase;
  trigger.erase(0, trigger.find_first_not_of(" \t\n\r"));
  trigger.erase(trigger.find_last_not_of(" \t\n\r") + 1);
  for (size_t entry_idx = 0; entry_idx < request.validation.size() && !trigger.empty(); ++entry_idx) {
    if (request.validation[entry_idx].prompt.find(trigger) == std::string::npos) {
      request.notes.push_back("validation[" + std::to_string(entry_idx) +
                              "].prompt does not contain the trigger phrase \"" + trigger +
                              "\": the LoRA may not engage in that preview; add the phrase to the prompt");
    }
  }
  if (!request.validation.empty() && request.validation_interval >= request.number_of_steps) {
    request.notes.push_back("validation_interval=" + std::to_string(request.validation_interval) +
                            " is not below number_of_steps=" + std::to_string(request.number_of_steps) +
                            ": previews run only at the last step");
  }
  if (body.contains("split_input_duration_threshold")) {
    request.notes.push_back(
        "split_input_duration_threshold is accepted but unused: scene splitting is off in this mode");
  }
}

}  // namespace

RequestCheck check_training_request_json(const Json& body, const LocalFilePolicy& local_files,
                                         RequestParsing parsing) {
  RequestCheck check;
  auto& problems = check.problems;
  if (!body.is_object()) {
    problems.push_back({{"body"},
                        "the request body must be a JSON object of parameters, got " +
                            describe_json_value(body) + ": send {\"training_data_url\": \"...\", ...}",
                        "model_attributes_type"});
    return check;
  }
  std::vector<std::string> reading_notes;  // ignored fields and coerced values (lax)
  FieldReader reader(body, {"body"}, "", parsing, problems, reading_notes);
  Validity valid;
  TrainingRequest request;

  valid.take(
      reader.string("training_data_url", std::nullopt,
                    "add the URL of the .zip of clip pairs (<name>_start / <name>_end, each with audio)"),
      request.training_data_url, "training_data_url");
  if (valid.ok({"training_data_url"})) {
    check_location_field(reader, "training_data_url", request.training_data_url, local_files);
  }
  valid.take(reader.string("trigger_phrase", ""), request.trigger_phrase, "trigger_phrase");
  valid.take(reader.integer_choice("rank", 32, kLoraRanks), request.rank, "rank");
  valid.take(reader.integer("number_of_steps", 2000, 100, 20000), request.number_of_steps, "number_of_steps");
  valid.take(reader.number("learning_rate", 0.0002, 0.0, /*min_exclusive=*/true, std::nullopt),
             request.learning_rate, "learning_rate");
  valid.take(reader.integer("reference_downscale_factor", 1, 1, kMaxReferenceScaleFactor),
             request.reference_downscale_factor, "reference_downscale_factor");
  valid.take(reader.integer("reference_temporal_scale_factor", 1, 1, kMaxReferenceScaleFactor),
             request.reference_temporal_scale_factor, "reference_temporal_scale_factor");
  valid.take(reader.integer("number_of_frames", 89, kMinFrameCount, kMaxFrameCount), request.number_of_frames,
             "number_of_frames");
  valid.take(reader.integer("frame_rate", 24, 8, 60), request.frame_rate, "frame_rate");
  if (const auto text = reader.string_choice("resolution", "medium", kResolutionNames)) {
    request.resolution = *parse_resolution(*text);
  } else {
    valid.refuse("resolution");
  }
  if (const auto text = reader.string_choice("aspect_ratio", "1:1", kAspectRatioNames)) {
    request.aspect_ratio = *parse_aspect_ratio(*text);
  } else {
    valid.refuse("aspect_ratio");
  }
  valid.take(reader.boolean("auto_scale_input", false), request.auto_scale_input, "auto_scale_input");
  if (const auto split = reader.boolean("split_input_into_scenes", false); split && *split) {
    reader.add_problem(
        "split_input_into_scenes", "value_error",
        "split_input_into_scenes=true is not available for av2av training: scenes would be cut "
        "separately in the reference and the target clip and the pairs would fall out of sync. Set "
        "it to false (or leave it out) and cut the clips into matching pairs yourself");
  }
  valid.take(reader.number("split_input_duration_threshold", 30.0, 1.0, false, 60.0),
             request.split_input_duration_threshold, "split_input_duration_threshold");
  valid.take(reader.boolean("audio_normalize", true), request.audio_normalize, "audio_normalize");
  valid.take(reader.boolean("audio_preserve_pitch", true), request.audio_preserve_pitch,
             "audio_preserve_pitch");
  request.validation = read_validation(reader, valid, local_files, parsing, problems, reading_notes);
  valid.take(reader.string("validation_negative_prompt", std::string(kDefaultValidationNegativePrompt)),
             request.validation_negative_prompt, "validation_negative_prompt");
  valid.take(reader.integer("validation_number_of_frames", 89, kMinFrameCount, kMaxFrameCount),
             request.validation_number_of_frames, "validation_number_of_frames");
  valid.take(reader.integer("validation_frame_rate", 24, 8, 60), request.validation_frame_rate,
             "validation_frame_rate");
  if (const auto text = reader.string_choice("validation_resolution", "high", kResolutionNames)) {
    request.validation_resolution = *parse_resolution(*text);
  } else {
    valid.refuse("validation_resolution");
  }
  if (const auto text = reader.string_choice("validation_aspect_ratio", "1:1", kAspectRatioNames)) {
    request.validation_aspect_ratio = *parse_aspect_ratio(*text);
  } else {
    valid.refuse("validation_aspect_ratio");
  }
  valid.take(reader.number("stg_scale", 1.0, 0.0, false, 3.0), request.stg_scale, "stg_scale");
  valid.take(reader.boolean("debug_dataset", false), request.debug_dataset, "debug_dataset");
  valid.take(reader.integer("validation_interval", 500, 0, 20000), request.validation_interval,
             "validation_interval");
  reader.check_unknown(kRequestFields);

  if (valid.ok({"number_of_frames"})) snap_frames(request, request.number_of_frames, "number_of_frames");
  if (valid.ok({"validation_number_of_frames"})) {
    snap_frames(request, request.validation_number_of_frames, "validation_number_of_frames");
  }

  // Cross-field rules, each against BOTH the training and the validation settings (MISSION.md). They are
  // checked whether or not validation entries are given: the validation settings must be usable as sent.
  const int d = request.reference_downscale_factor;
  if (valid.ok({"reference_downscale_factor", "resolution", "aspect_ratio"})) {
    check_downscale(reader, d, request.resolution, request.aspect_ratio, /*validation=*/false);
  }
  if (valid.ok({"reference_downscale_factor", "validation_resolution", "validation_aspect_ratio"})) {
    check_downscale(reader, d, request.validation_resolution, request.validation_aspect_ratio,
                    /*validation=*/true);
  }
  const int s = request.reference_temporal_scale_factor;
  if (valid.ok({"reference_temporal_scale_factor", "number_of_frames"})) {
    check_temporal(reader, request, s, request.number_of_frames, "number_of_frames");
  }
  if (valid.ok({"reference_temporal_scale_factor", "validation_number_of_frames"})) {
    check_temporal(reader, request, s, request.validation_number_of_frames, "validation_number_of_frames");
  }

  if (problems.empty()) {
    request.notes.insert(request.notes.begin(), reading_notes.begin(), reading_notes.end());
    add_notes(request, body);
    check.request = std::move(request);
  }
  return check;
}

RequestCheck check_training_request(std::string_view body, const LocalFilePolicy& local_files,
                                    RequestParsing parsing) {
  Json parsed;
  try {
    parsed = Json::parse(body);
  } catch (const Json::exception& error) {
    // parse_error names the byte; out_of_range (a number beyond a double, 1e999) names the text
    const auto* syntax = dynamic_cast<const Json::parse_error*>(&error);
    RequestCheck check;
    std::vector<std::string> where{"body"};
    if (syntax) where.push_back(std::to_string(syntax->byte));
    check.problems.push_back(
        {where,
         "the request body is not valid JSON (" + core::json_failure_text(error) + "): send one JSON object",
         "json_invalid"});
    return check;
  }
  return check_training_request_json(parsed, local_files, parsing);
}

TrainingRequest parse_training_request_json(const Json& body, const LocalFilePolicy& local_files,
                                            RequestParsing parsing) {
  auto check = check_training_request_json(body, local_files, parsing);
  if (!check.request) throw core::InvalidInput(std::move(check.problems));
  return std::move(*check.request);
}

TrainingRequest parse_training_request(std::string_view body, const LocalFilePolicy& local_files,
                                       RequestParsing parsing) {
  auto check = check_training_request(body, local_files, parsing);
  if (!check.request) throw core::InvalidInput(std::move(check.problems));
  return std::move(*check.request);
}

Json to_json(const TrainingRequest& request) {
  Json validation = Json::array();
  for (const auto& entry : request.validation) {
    Json item = {{"prompt", entry.prompt}, {"reference_video_url", entry.reference_video_url}};
    if (entry.reference_audio_url) item["reference_audio_url"] = *entry.reference_audio_url;
    validation.push_back(std::move(item));
  }
  Json json;
  json["training_data_url"] = request.training_data_url;
  json["trigger_phrase"] = request.trigger_phrase;
  json["rank"] = request.rank;
  json["number_of_steps"] = request.number_of_steps;
  json["learning_rate"] = request.learning_rate;
  json["reference_downscale_factor"] = request.reference_downscale_factor;
  json["reference_temporal_scale_factor"] = request.reference_temporal_scale_factor;
  json["number_of_frames"] = request.number_of_frames;
  json["frame_rate"] = request.frame_rate;
  json["resolution"] = to_string(request.resolution);
  json["aspect_ratio"] = to_string(request.aspect_ratio);
  json["auto_scale_input"] = request.auto_scale_input;
  json["split_input_into_scenes"] = request.split_input_into_scenes;
  json["split_input_duration_threshold"] = request.split_input_duration_threshold;
  json["audio_normalize"] = request.audio_normalize;
  json["audio_preserve_pitch"] = request.audio_preserve_pitch;
  json["validation"] = std::move(validation);
  json["validation_negative_prompt"] = request.validation_negative_prompt;
  json["validation_number_of_frames"] = request.validation_number_of_frames;
  json["validation_frame_rate"] = request.validation_frame_rate;
  json["validation_resolution"] = to_string(request.validation_resolution);
  json["validation_aspect_ratio"] = to_string(request.validation_aspect_ratio);
  json["stg_scale"] = request.stg_scale;
  json["debug_dataset"] = request.debug_dataset;
  json["validation_interval"] = request.validation_interval;
  return json;
}

Json describe_training_request(const TrainingRequest& request) {
  Json snapped = Json::array();
  for (const auto& snap : request.snaps) {
    snapped.push_back({{"field", snap.field}, {"requested", snap.requested}, {"snapped", snap.snapped}});
  }
  const auto size_json = [](VideoSize size, int frames, double frame_rate) {
    return Json{
        {"width", size.width}, {"height", size.height}, {"frames", frames}, {"frame_rate", frame_rate}};
  };
  const Billing billing = bill(request.number_of_steps, JobOutcome::delivered);
  Json json = to_json(request);
  json["notes"] = request.notes;
  json["snapped"] = std::move(snapped);
  json["sizes"] = {
      {"training", size_json(request.training_size(), request.number_of_frames, request.frame_rate)},
      {"training_reference", size_json(request.reference_training_size(), request.reference_frame_count(),
                                       request.reference_frame_rate())},
      {"validation", size_json(request.validation_size(), request.validation_number_of_frames,
                               request.validation_frame_rate)},
      {"validation_reference",
       size_json(request.reference_validation_size(), request.reference_validation_frame_count(),
                 request.reference_validation_frame_rate())}};
  json["billing"] = {
      {"units_if_delivered", billing.units},
      {"cost_usd_if_delivered", billing.cost_usd},
      {"price_per_unit_usd", kPricePerUnitUsd},
      {"rule",
       "max(100, number_of_steps) units when the outputs are delivered; 0 on any failure or cancellation"}};
  return json;
}

}  // namespace avtrain::service
