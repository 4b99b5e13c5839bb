// The request contract (MISSION.md "Request parameters" and "Cross-field rules", STYLE.md §4 and §8):
// table-driven accepted values and 422 problems, each pinned by loc and type and by what its message
// names.
#include "service/request/training_request.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

using Json = nlohmann::ordered_json;
using Loc = std::vector<std::string>;

constexpr const char* kZip = "https://example.com/clips.zip";

// A minimal valid request with `overrides` applied key by key (null values are kept, unlike a merge patch).
Json request_with(const std::string& overrides) {
  Json body = {{"training_data_url", kZip}};
  const Json parsed = Json::parse(overrides);
  for (const auto& [key, value] : parsed.items()) body[key] = value;
  return body;
}

std::string describe(const std::vector<core::Problem>& problems) {
  std::string text;
  for (const auto& problem : problems) {
    text += "\n  loc=";
    for (const auto& part : problem.loc) text += part + "/";
    text += " type=" + problem.type + " msg=" + problem.msg;
  }
  return text;
}

const core::Problem* find_problem(const std::vector<core::Problem>& problems, const Loc& loc,
                                  const std::string& type) {
  for (const auto& problem : problems) {
    if (problem.loc == loc && problem.type == type) return &problem;
  }
  return nullptr;
}

// Which ways of reading (DECISIONS.md §33, field_reader.h) a table row holds for.
enum class Modes { both, lax_only, strict_only };

std::vector<RequestParsing> parsings(Modes modes) {
  switch (modes) {
    case Modes::lax_only:
      return {RequestParsing::lax};
    case Modes::strict_only:
      return {RequestParsing::strict};
    default:
      return {RequestParsing::lax, RequestParsing::strict};
  }
}

const char* name_of(RequestParsing parsing) { return parsing == RequestParsing::lax ? "lax" : "strict"; }

// ---------------------------------------------------------------------------------------------
// Accepted values: each field at its bounds, defaults and whole-valued floats.

struct AcceptedCase {
  std::string name;
  std::string overrides;
  std::string field;     // a key of the normalized request
  std::string expected;  // its normalized value, as JSON
  Modes modes = Modes::both;
};

class AcceptedRequest : public ::testing::TestWithParam<AcceptedCase> {};

TEST_P(AcceptedRequest, NormalizesTheField) {
  const auto& param = GetParam();
  for (const auto parsing : parsings(param.modes)) {
    const auto check =
        check_training_request_json(request_with(param.overrides), LocalFilePolicy::allow_any(), parsing);
    ASSERT_TRUE(check.request) << name_of(parsing) << ": " << param.overrides << describe(check.problems);
    EXPECT_EQ(to_json(*check.request)[param.field], Json::parse(param.expected))
        << name_of(parsing) << ": " << param.overrides;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Bounds, AcceptedRequest,
    ::testing::Values(
        AcceptedCase{"RankSmallest", R"({"rank": 8})", "rank", "8"},
        AcceptedCase{"RankLargest", R"({"rank": 128})", "rank", "128"},
        AcceptedCase{"RankWholeFloat", R"({"rank": 64.0})", "rank", "64"},
        AcceptedCase{"StepsMinimum", R"({"number_of_steps": 100})", "number_of_steps", "100"},
        AcceptedCase{"StepsMaximum", R"({"number_of_steps": 20000})", "number_of_steps", "20000"},
        AcceptedCase{"StepsWholeFloat", R"({"number_of_steps": 1500.0})", "number_of_steps", "1500"},
        AcceptedCase{"LearningRateTiny", R"({"learning_rate": 1e-9})", "learning_rate", "1e-9"},
        AcceptedCase{"LearningRateInteger", R"({"learning_rate": 1})", "learning_rate", "1.0"},
        AcceptedCase{"DownscaleOne", R"({"reference_downscale_factor": 1})", "reference_downscale_factor",
                     "1"},
        AcceptedCase{"DownscaleEightWhereItFits",
                     R"({"reference_downscale_factor": 8, "validation_resolution": "medium"})",
                     "reference_downscale_factor", "8"},
        AcceptedCase{"TemporalEightAt65Frames",
                     R"({"reference_temporal_scale_factor": 8, "number_of_frames": 65,
                         "validation_number_of_frames": 65})",
                     "reference_temporal_scale_factor", "8"},
        AcceptedCase{"FramesMinimum", R"({"number_of_frames": 9})", "number_of_frames", "9"},
        AcceptedCase{"FramesMaximum", R"({"number_of_frames": 121})", "number_of_frames", "121"},
        AcceptedCase{"Frames90SnapTo89", R"({"number_of_frames": 90})", "number_of_frames", "89"},
        AcceptedCase{"Frames100SnapTo97", R"({"number_of_frames": 100})", "number_of_frames", "97"},
        AcceptedCase{"ValidationFrames120SnapTo113", R"({"validation_number_of_frames": 120})",
                     "validation_number_of_frames", "113"},
        AcceptedCase{"ValidationFramesMinimum", R"({"validation_number_of_frames": 9})",
                     "validation_number_of_frames", "9"},
        AcceptedCase{"FrameRateMinimum", R"({"frame_rate": 8})", "frame_rate", "8"},
        AcceptedCase{"FrameRateMaximum", R"({"frame_rate": 60})", "frame_rate", "60"},
        AcceptedCase{"ValidationFrameRateMinimum", R"({"validation_frame_rate": 8})", "validation_frame_rate",
                     "8"},
        AcceptedCase{"ValidationFrameRateMaximum", R"({"validation_frame_rate": 60})",
                     "validation_frame_rate", "60"},
        AcceptedCase{"ResolutionLow", R"({"resolution": "low", "aspect_ratio": "16:9"})", "resolution",
                     R"("low")"},
        AcceptedCase{"AspectPortrait", R"({"aspect_ratio": "9:16"})", "aspect_ratio", R"("9:16")"},
        AcceptedCase{"ThresholdMinimum", R"({"split_input_duration_threshold": 1.0})",
                     "split_input_duration_threshold", "1.0"},
        AcceptedCase{"ThresholdMaximumAsInteger", R"({"split_input_duration_threshold": 60})",
                     "split_input_duration_threshold", "60.0"},
        AcceptedCase{"SplitScenesFalse", R"({"split_input_into_scenes": false})", "split_input_into_scenes",
                     "false"},
        AcceptedCase{"StgScaleZero", R"({"stg_scale": 0})", "stg_scale", "0.0"},
        AcceptedCase{"StgScaleMaximum", R"({"stg_scale": 3.0})", "stg_scale", "3.0"},
        AcceptedCase{"IntervalZeroMeansLastStepOnly", R"({"validation_interval": 0})", "validation_interval",
                     "0"},
        AcceptedCase{"IntervalMaximum", R"({"validation_interval": 20000})", "validation_interval", "20000"},
        AcceptedCase{"AudioUrlNullMeansAbsent",
                     R"({"validation": [{"prompt": "p", "reference_video_url": "https://x.io/a.mp4",
                                         "reference_audio_url": null}]})",
                     "validation", R"([{"prompt": "p", "reference_video_url": "https://x.io/a.mp4"}])"},
        AcceptedCase{"TwoValidationEntries",
                     R"({"validation": [{"prompt": "a", "reference_video_url": "https://x.io/a.mp4"},
                                        {"prompt": "b", "reference_video_url": "/data/b.mp4",
                                         "reference_audio_url": "file:///data/b.wav"}]})",
                     "validation",
                     R"([{"prompt": "a", "reference_video_url": "https://x.io/a.mp4"},
                         {"prompt": "b", "reference_video_url": "/data/b.mp4",
                          "reference_audio_url": "file:///data/b.wav"}])"},
        AcceptedCase{"EmptyTriggerPhrase", R"({"trigger_phrase": ""})", "trigger_phrase", R"("")"},
        AcceptedCase{"BooleansFlip", R"({"audio_normalize": false})", "audio_normalize", "false"}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Refused values: one problem each (unless `count` says otherwise), pinned by loc and type.

struct RefusedCase {
  std::string name;
  std::string overrides;  // applied to a valid request; a body starting with '!' replaces it whole
  Loc loc;
  std::string type;
  std::vector<std::string> msg_contains;
  size_t count = 1;
  Modes modes = Modes::both;
};

void PrintTo(const RefusedCase& param, std::ostream* os) { *os << param.overrides; }
void PrintTo(const AcceptedCase& param, std::ostream* os) { *os << param.overrides; }

class RefusedRequest : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(RefusedRequest, ReportsTheProblem) {
  const auto& param = GetParam();
  for (const auto parsing : parsings(param.modes)) {
    const auto check = param.overrides.starts_with("!")
                           ? check_training_request(std::string_view(param.overrides).substr(1),
                                                    LocalFilePolicy::allow_any(), parsing)
                           : check_training_request_json(request_with(param.overrides),
                                                         LocalFilePolicy::allow_any(), parsing);
    ASSERT_FALSE(check.request) << name_of(parsing) << ": " << param.overrides;
    EXPECT_EQ(check.problems.size(), param.count) << name_of(parsing) << describe(check.problems);
    const auto* problem = find_problem(check.problems, param.loc, param.type);
    ASSERT_NE(problem, nullptr) << name_of(parsing) << ": no " << param.type << " problem at the expected loc"
                                << describe(check.problems);
    for (const auto& part : param.msg_contains) {
      EXPECT_NE(problem->msg.find(part), std::string::npos)
          << name_of(parsing) << ": msg lacks '" << part << "': " << problem->msg;
    }
  }
}

Loc body(std::initializer_list<std::string> parts) {
  Loc loc = {"body"};
  loc.insert(loc.end(), parts);
  return loc;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, RefusedRequest,
    ::testing::Values(
        RefusedCase{"TrainingDataUrlMissing",
                    "!{}",
                    body({"training_data_url"}),
                    "missing",
                    {"training_data_url is required"}},
        RefusedCase{"TrainingDataUrlNumber",
                    R"({"training_data_url": 42})",
                    body({"training_data_url"}),
                    "string_type",
                    {"got 42", "\"42\""}},
        RefusedCase{"TrainingDataUrlNull",
                    R"({"training_data_url": null})",
                    body({"training_data_url"}),
                    "string_type",
                    {"got null"}},
        RefusedCase{"TrainingDataUrlEmpty",
                    R"({"training_data_url": ""})",
                    body({"training_data_url"}),
                    "value_error",
                    {"empty", "https://"}},
        RefusedCase{"TrainingDataUrlFtp",
                    R"({"training_data_url": "ftp://host/clips.zip"})",
                    body({"training_data_url"}),
                    "url_scheme",
                    {"ftp://", "https://"}},
        RefusedCase{"TrainingDataUrlNoHost",
                    R"({"training_data_url": "https:///clips.zip"})",
                    body({"training_data_url"}),
                    "url_parsing",
                    {"no host"}},
        RefusedCase{"TrainingDataUrlHalfScheme",
                    R"({"training_data_url": "http:/host/clips.zip"})",
                    body({"training_data_url"}),
                    "url_parsing",
                    {"http://host/path"}},
        RefusedCase{"TriggerPhraseNumber",
                    R"({"trigger_phrase": 7})",
                    body({"trigger_phrase"}),
                    "string_type",
                    {"\"7\""}},
        RefusedCase{"RankNotAllowed",
                    R"({"rank": 12})",
                    body({"rank"}),
                    "literal_error",
                    {"rank=12", "8, 16, 32, 64 or 128"}},
        RefusedCase{"RankBelowSmallest", R"({"rank": 4})", body({"rank"}), "literal_error", {"rank=4"}},
        RefusedCase{"RankAboveLargest", R"({"rank": 256})", body({"rank"}), "literal_error", {"rank=256"}},
        RefusedCase{"RankString",
                    R"({"rank": "32"})",
                    body({"rank"}),
                    "int_type",
                    {"the string \"32\"", "without quotes"},
                    1,
                    Modes::strict_only},
        RefusedCase{"RankFraction",
                    R"({"rank": 32.5})",
                    body({"rank"}),
                    "int_from_float",
                    {"32.5", "32 or 33"},
                    1,
                    Modes::strict_only},
        RefusedCase{
            "RankBool", R"({"rank": true})", body({"rank"}), "int_type", {"got true"}, 1, Modes::strict_only},
        RefusedCase{"RankNull",
                    R"({"rank": null})",
                    body({"rank"}),
                    "int_type",
                    {"got null", "default 32"},
                    1,
                    Modes::strict_only},
        RefusedCase{"RankArray",
                    R"({"rank": [32]})",
                    body({"rank"}),
                    "int_type",
                    {"an array"},
                    1,
                    Modes::strict_only},
        RefusedCase{"StepsOneBelow",
                    R"({"number_of_steps": 99})",
                    body({"number_of_steps"}),
                    "greater_than_equal",
                    {"number_of_steps=99", "100 to 20000"}},
        RefusedCase{"StepsOneAbove",
                    R"({"number_of_steps": 20001})",
                    body({"number_of_steps"}),
                    "less_than_equal",
                    {"number_of_steps=20001", "maximum 20000"}},
        RefusedCase{"StepsString",
                    R"({"number_of_steps": "2000"})",
                    body({"number_of_steps"}),
                    "int_type",
                    {"write 2000 without quotes"},
                    1,
                    Modes::strict_only},
        RefusedCase{"StepsFraction",
                    R"({"number_of_steps": 150.5})",
                    body({"number_of_steps"}),
                    "int_from_float",
                    {"150 or 151"}},
        RefusedCase{"StepsHuge",
                    R"({"number_of_steps": 1e30})",
                    body({"number_of_steps"}),
                    "less_than_equal",
                    {"maximum 20000"},
                    1,
                    Modes::strict_only},
        RefusedCase{"LearningRateZero",
                    R"({"learning_rate": 0})",
                    body({"learning_rate"}),
                    "greater_than",
                    {"learning_rate=0", "greater than 0"}},
        RefusedCase{"LearningRateNegative",
                    R"({"learning_rate": -0.0001})",
                    body({"learning_rate"}),
                    "greater_than",
                    {"-0.0001"}},
        RefusedCase{"LearningRateString",
                    R"({"learning_rate": "2e-4"})",
                    body({"learning_rate"}),
                    "float_type",
                    {"write 2e-4 without quotes"},
                    1,
                    Modes::strict_only},
        RefusedCase{"LearningRateBool",
                    R"({"learning_rate": false})",
                    body({"learning_rate"}),
                    "float_type",
                    {"got false"},
                    1,
                    Modes::strict_only},
        RefusedCase{"LearningRateObject",
                    R"({"learning_rate": {"value": 1}})",
                    body({"learning_rate"}),
                    "float_type",
                    {"an object"}},
        RefusedCase{"DownscaleZero",
                    R"({"reference_downscale_factor": 0})",
                    body({"reference_downscale_factor"}),
                    "greater_than_equal",
                    {"1 to 8"}},
        RefusedCase{"DownscaleNine",
                    R"({"reference_downscale_factor": 9})",
                    body({"reference_downscale_factor"}),
                    "less_than_equal",
                    {"1 to 8"}},
        RefusedCase{"TemporalZero",
                    R"({"reference_temporal_scale_factor": 0})",
                    body({"reference_temporal_scale_factor"}),
                    "greater_than_equal",
                    {"1 to 8"}},
        RefusedCase{"TemporalNine",
                    R"({"reference_temporal_scale_factor": 9})",
                    body({"reference_temporal_scale_factor"}),
                    "less_than_equal",
                    {"1 to 8"}},
        RefusedCase{"FramesOneBelow",
                    R"({"number_of_frames": 8})",
                    body({"number_of_frames"}),
                    "greater_than_equal",
                    {"9 to 121"}},
        RefusedCase{"FramesOneAbove",
                    R"({"number_of_frames": 122})",
                    body({"number_of_frames"}),
                    "less_than_equal",
                    {"9 to 121"}},
        RefusedCase{"FrameRateOneBelow",
                    R"({"frame_rate": 7})",
                    body({"frame_rate"}),
                    "greater_than_equal",
                    {"8 to 60"}},
        RefusedCase{"FrameRateOneAbove",
                    R"({"frame_rate": 61})",
                    body({"frame_rate"}),
                    "less_than_equal",
                    {"8 to 60"}},
        RefusedCase{"ResolutionUnknown",
                    R"({"resolution": "ultra"})",
                    body({"resolution"}),
                    "literal_error",
                    {"\"ultra\"", "\"low\", \"medium\" or \"high\""}},
        RefusedCase{"ResolutionCapitalized",
                    R"({"resolution": "Medium"})",
                    body({"resolution"}),
                    "literal_error",
                    {"did you mean \"medium\""}},
        RefusedCase{
            "ResolutionNumber", R"({"resolution": 768})", body({"resolution"}), "string_type", {"got 768"}},
        RefusedCase{"AspectRatioUnknown",
                    R"({"aspect_ratio": "4:3"})",
                    body({"aspect_ratio"}),
                    "literal_error",
                    {"\"16:9\", \"1:1\" or \"9:16\""}},
        RefusedCase{"AspectRatioWithX",
                    R"({"aspect_ratio": "16x9"})",
                    body({"aspect_ratio"}),
                    "literal_error",
                    {"did you mean \"16:9\""}},
        RefusedCase{"AutoScaleString",
                    R"({"auto_scale_input": "true"})",
                    body({"auto_scale_input"}),
                    "bool_type",
                    {"write true without quotes"},
                    1,
                    Modes::strict_only},
        RefusedCase{"AutoScaleNumber",
                    R"({"auto_scale_input": 1})",
                    body({"auto_scale_input"}),
                    "bool_type",
                    {"got 1", "true or false"},
                    1,
                    Modes::strict_only},
        RefusedCase{"AutoScaleNull",
                    R"({"auto_scale_input": null})",
                    body({"auto_scale_input"}),
                    "bool_type",
                    {"got null"}},
        RefusedCase{"SplitScenesOn",
                    R"({"split_input_into_scenes": true})",
                    body({"split_input_into_scenes"}),
                    "value_error",
                    {"split_input_into_scenes=true", "false"}},
        RefusedCase{"ThresholdBelow",
                    R"({"split_input_duration_threshold": 0.99})",
                    body({"split_input_duration_threshold"}),
                    "greater_than_equal",
                    {"0.99", "1.0 to 60.0"}},
        RefusedCase{"ThresholdAbove",
                    R"({"split_input_duration_threshold": 60.01})",
                    body({"split_input_duration_threshold"}),
                    "less_than_equal",
                    {"60.01"}},
        RefusedCase{"AudioNormalizeString",
                    R"({"audio_normalize": "yes"})",
                    body({"audio_normalize"}),
                    "bool_type",
                    {"the string \"yes\""},
                    1,
                    Modes::strict_only},
        RefusedCase{"PreservePitchNumber",
                    R"({"audio_preserve_pitch": 0})",
                    body({"audio_preserve_pitch"}),
                    "bool_type",
                    {"got 0"},
                    1,
                    Modes::strict_only},
        RefusedCase{"NegativePromptNumber",
                    R"({"validation_negative_prompt": 5})",
                    body({"validation_negative_prompt"}),
                    "string_type",
                    {"got 5"}},
        RefusedCase{"NegativePromptNull",
                    R"({"validation_negative_prompt": null})",
                    body({"validation_negative_prompt"}),
                    "string_type",
                    {"leave validation_negative_prompt out"}},
        RefusedCase{"ValidationFramesOneBelow",
                    R"({"validation_number_of_frames": 8})",
                    body({"validation_number_of_frames"}),
                    "greater_than_equal",
                    {"9 to 121"}},
        RefusedCase{"ValidationFramesOneAbove",
                    R"({"validation_number_of_frames": 122})",
                    body({"validation_number_of_frames"}),
                    "less_than_equal",
                    {"9 to 121"}},
        RefusedCase{"ValidationFrameRateOneBelow",
                    R"({"validation_frame_rate": 7})",
                    body({"validation_frame_rate"}),
                    "greater_than_equal",
                    {"8 to 60"}},
        RefusedCase{"ValidationFrameRateOneAbove",
                    R"({"validation_frame_rate": 61})",
                    body({"validation_frame_rate"}),
                    "less_than_equal",
                    {"8 to 60"}},
        RefusedCase{"ValidationResolutionUnknown",
                    R"({"validation_resolution": "4k"})",
                    body({"validation_resolution"}),
                    "literal_error",
                    {"\"4k\""}},
        RefusedCase{"ValidationAspectUnknown",
                    R"({"validation_aspect_ratio": "2:1"})",
                    body({"validation_aspect_ratio"}),
                    "literal_error",
                    {"\"2:1\""}},
        RefusedCase{"StgScaleBelow",
                    R"({"stg_scale": -0.1})",
                    body({"stg_scale"}),
                    "greater_than_equal",
                    {"0.0 to 3.0"}},
        RefusedCase{
            "StgScaleAbove", R"({"stg_scale": 3.01})", body({"stg_scale"}), "less_than_equal", {"3.01"}},
        RefusedCase{"StgScaleString",
                    R"({"stg_scale": "1"})",
                    body({"stg_scale"}),
                    "float_type",
                    {"without quotes"},
                    1,
                    Modes::strict_only},
        RefusedCase{"DebugDatasetString",
                    R"({"debug_dataset": "false"})",
                    body({"debug_dataset"}),
                    "bool_type",
                    {"write false without quotes"},
                    1,
                    Modes::strict_only},
        RefusedCase{"IntervalOneBelow",
                    R"({"validation_interval": -1})",
                    body({"validation_interval"}),
                    "greater_than_equal",
                    {"0 to 20000"}},
        RefusedCase{"IntervalOneAbove",
                    R"({"validation_interval": 20001})",
                    body({"validation_interval"}),
                    "less_than_equal",
                    {"0 to 20000"}},
        RefusedCase{"IntervalFraction",
                    R"({"validation_interval": 1.5})",
                    body({"validation_interval"}),
                    "int_from_float",
                    {"1 or 2"}},
        RefusedCase{"ValidationObjectNotArray",
                    R"({"validation": {"prompt": "p", "reference_video_url": "https://x.io/a.mp4"}})",
                    body({"validation"}),
                    "list_type",
                    {"wrap the object in [ ]"}},
        RefusedCase{"ValidationString",
                    R"({"validation": "none"})",
                    body({"validation"}),
                    "list_type",
                    {"the string"}},
        RefusedCase{"ValidationThreeEntries",
                    R"({"validation": [{"prompt": "a", "reference_video_url": "https://x.io/a.mp4"},
                                       {"prompt": "b", "reference_video_url": "https://x.io/b.mp4"},
                                       {"prompt": "c", "reference_video_url": "https://x.io/c.mp4"}]})",
                    body({"validation"}),
                    "too_long",
                    {"3 entries", "at most 2", "remove 1"}},
        RefusedCase{"ValidationEntryArray",
                    R"({"validation": [["p", "https://x.io/a.mp4"]]})",
                    body({"validation", "0"}),
                    "model_type",
                    {"validation[0] must be an object", "an array"}},
        RefusedCase{"ValidationEntryWithoutVideo",
                    R"({"validation": [{"prompt": "p"}]})",
                    body({"validation", "0", "reference_video_url"}),
                    "missing",
                    {"validation[0].reference_video_url is required"}},
        RefusedCase{"ValidationEntryWithoutPrompt",
                    R"({"validation": [{"reference_video_url": "https://x.io/a.mp4"}]})",
                    body({"validation", "0", "prompt"}),
                    "missing",
                    {"validation[0].prompt"}},
        RefusedCase{"ValidationVideoNumber",
                    R"({"validation": [{"prompt": "p", "reference_video_url": "https://x.io/a.mp4"},
                                       {"prompt": "p", "reference_video_url": 3}]})",
                    body({"validation", "1", "reference_video_url"}),
                    "string_type",
                    {"validation[1].reference_video_url"}},
        RefusedCase{"ValidationAudioScheme",
                    R"({"validation": [{"prompt": "p", "reference_video_url": "https://x.io/a.mp4",
                                        "reference_audio_url": "s3://bucket/a.wav"}]})",
                    body({"validation", "0", "reference_audio_url"}),
                    "url_scheme",
                    {"s3://"}},
        RefusedCase{"ValidationEntryUnknownField",
                    R"({"validation": [{"prompt": "p", "reference_video_url": "https://x.io/a.mp4",
                                        "reference_audio": "https://x.io/a.wav"}]})",
                    body({"validation", "0", "reference_audio"}),
                    "extra_forbidden",
                    {"did you mean validation[0].reference_audio_url"},
                    1,
                    Modes::strict_only},
        RefusedCase{"UnknownFieldTypo",
                    R"({"ranks": 16})",
                    body({"ranks"}),
                    "extra_forbidden",
                    {"did you mean rank?"},
                    1,
                    Modes::strict_only},
        RefusedCase{"UnknownFieldCamelCase",
                    R"({"numberOfSteps": 500})",
                    body({"numberOfSteps"}),
                    "extra_forbidden",
                    {"did you mean number_of_steps?"},
                    1,
                    Modes::strict_only},
        RefusedCase{"UnknownFieldUnrelated",
                    R"({"colour": "red"})",
                    body({"colour"}),
                    "extra_forbidden",
                    {"remove it", "training_data_url"},
                    1,
                    Modes::strict_only},
        RefusedCase{"BodyIsAnArray", "![]", body({}), "model_attributes_type", {"JSON object"}},
        RefusedCase{"BodyIsNotJson", "!{\"rank\": }", body({"10"}), "json_invalid", {"not valid JSON"}},
        // bytes that are not UTF-8 inside a string (Latin-1 "café")
        RefusedCase{"BodyIsNotUtf8",
                    "!{\"trigger_phrase\": \"caf\xe9\"}",
                    body({"25"}),
                    "json_invalid",
                    {"not valid JSON"}},
        // a number beyond a double: nlohmann's out_of_range, which once escaped as a crash
        // (request_json_fuzz)
        RefusedCase{"NumberBeyondADouble",
                    "!{\"rank\": 1e999}",
                    body({}),
                    "json_invalid",
                    {"not valid JSON", "1e999"}}),
    [](const auto& info) { return info.param.name; });

// Pydantic's lax mode (DECISIONS.md §33): every row of docs/api.md's "Lax parsing" table. Integer
// fields are number_of_steps / validation_interval, rank is a Literal of integers, numbers are
// learning_rate / stg_scale, booleans auto_scale_input.
INSTANTIATE_TEST_SUITE_P(
    LaxCoercions, AcceptedRequest,
    ::testing::Values(
        AcceptedCase{"IntFromWholeFloat", R"({"number_of_steps": 1500.0})", "number_of_steps", "1500"},
        AcceptedCase{"IntFromTrue", R"({"validation_interval": true})", "validation_interval", "1",
                     Modes::lax_only},
        AcceptedCase{"IntFromFalse", R"({"validation_interval": false})", "validation_interval", "0",
                     Modes::lax_only},
        AcceptedCase{"IntFromString", R"({"number_of_steps": "200"})", "number_of_steps", "200",
                     Modes::lax_only},
        AcceptedCase{"IntFromNegativeString", R"({"validation_interval": "-0"})", "validation_interval", "0",
                     Modes::lax_only},
        AcceptedCase{"IntFromPaddedString", R"({"number_of_steps": " 200\n"})", "number_of_steps", "200",
                     Modes::lax_only},
        AcceptedCase{"IntFromNoBreakSpacePaddedString", "{\"number_of_steps\": \"\u00a0200\"}",
                     "number_of_steps", "200", Modes::lax_only},
        AcceptedCase{"IntFromPlusString", R"({"number_of_steps": "+200"})", "number_of_steps", "200",
                     Modes::lax_only},
        AcceptedCase{"IntFromLeadingZeros", R"({"number_of_steps": "0200"})", "number_of_steps", "200",
                     Modes::lax_only},
        AcceptedCase{"IntFromUnderscores", R"({"number_of_steps": "1_000"})", "number_of_steps", "1000",
                     Modes::lax_only},
        AcceptedCase{"IntFromZeroFraction", R"({"number_of_steps": "200.00"})", "number_of_steps", "200",
                     Modes::lax_only},
        AcceptedCase{"LiteralIntFromWholeFloat", R"({"rank": 32.0})", "rank", "32"},
        AcceptedCase{"FloatFromInt", R"({"learning_rate": 1})", "learning_rate", "1.0"},
        AcceptedCase{"FloatFromString", R"({"learning_rate": "2e-4"})", "learning_rate", "0.0002",
                     Modes::lax_only},
        AcceptedCase{"FloatFromPaddedString", R"({"stg_scale": " 0.5 "})", "stg_scale", "0.5",
                     Modes::lax_only},
        AcceptedCase{"FloatFromDotFirst", R"({"stg_scale": ".5"})", "stg_scale", "0.5", Modes::lax_only},
        AcceptedCase{"FloatFromDotLast", R"({"stg_scale": "2."})", "stg_scale", "2.0", Modes::lax_only},
        AcceptedCase{"FloatFromCapitalExponent", R"({"learning_rate": "1E-4"})", "learning_rate", "0.0001",
                     Modes::lax_only},
        AcceptedCase{"FloatFromUnderscores", R"({"learning_rate": "1_000.5"})", "learning_rate", "1000.5",
                     Modes::lax_only},
        AcceptedCase{"FloatFromTrue", R"({"stg_scale": true})", "stg_scale", "1.0", Modes::lax_only},
        AcceptedCase{"FloatFromFalse", R"({"stg_scale": false})", "stg_scale", "0.0", Modes::lax_only},
        AcceptedCase{"BoolFromOne", R"({"auto_scale_input": 1})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromZero", R"({"audio_normalize": 0})", "audio_normalize", "false",
                     Modes::lax_only},
        AcceptedCase{"BoolFromOneFloat", R"({"auto_scale_input": 1.0})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromZeroFloat", R"({"audio_normalize": 0.0})", "audio_normalize", "false",
                     Modes::lax_only},
        AcceptedCase{"BoolFromTrueWord", R"({"auto_scale_input": "true"})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromCapitalTrue", R"({"auto_scale_input": "TRUE"})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromYes", R"({"auto_scale_input": "Yes"})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromY", R"({"auto_scale_input": "y"})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromT", R"({"auto_scale_input": "t"})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromOn", R"({"auto_scale_input": "on"})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromOneWord", R"({"auto_scale_input": "1"})", "auto_scale_input", "true",
                     Modes::lax_only},
        AcceptedCase{"BoolFromFalseWord", R"({"audio_normalize": "False"})", "audio_normalize", "false",
                     Modes::lax_only},
        AcceptedCase{"BoolFromNo", R"({"audio_normalize": "no"})", "audio_normalize", "false",
                     Modes::lax_only},
        AcceptedCase{"BoolFromN", R"({"audio_normalize": "N"})", "audio_normalize", "false", Modes::lax_only},
        AcceptedCase{"BoolFromF", R"({"audio_normalize": "f"})", "audio_normalize", "false", Modes::lax_only},
        AcceptedCase{"BoolFromOff", R"({"audio_normalize": "OFF"})", "audio_normalize", "false",
                     Modes::lax_only},
        AcceptedCase{"BoolFromZeroWord", R"({"audio_normalize": "0"})", "audio_normalize", "false",
                     Modes::lax_only},
        AcceptedCase{"UnknownFieldIgnored", R"({"number_of_stepz": 200})", "number_of_steps", "2000",
                     Modes::lax_only},
        AcceptedCase{"UnknownValidationFieldIgnored",
                     R"({"validation": [{"prompt": "p", "reference_video_url": "https://x.io/a.mp4",
                                         "reference_audio": "https://x.io/a.wav"}]})",
                     "validation", R"([{"prompt": "p", "reference_video_url": "https://x.io/a.mp4"}])",
                     Modes::lax_only}),
    [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(LaxCoercions, RefusedRequest,
                         ::testing::Values(RefusedCase{"IntFromFraction",
                                                       R"({"number_of_steps": 150.5})",
                                                       body({"number_of_steps"}),
                                                       "int_from_float",
                                                       {"150 or 151"}},
                                           RefusedCase{"IntFromHugeFloat",
                                                       R"({"number_of_steps": 1e30})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing_size",
                                                       {"too large"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromHugeString",
                                                       R"({"number_of_steps": "99999999999999999999"})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing_size",
                                                       {"too large", "100 to 20000"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromFractionString",
                                                       R"({"number_of_steps": "200.5"})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing",
                                                       {"the string \"200.5\"", "100 to 20000"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromEmptyFractionString",
                                                       R"({"number_of_steps": "200."})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing",
                                                       {"\"200.\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromExponentString",
                                                       R"({"number_of_steps": "1e3"})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing",
                                                       {"\"1e3\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromHexString",
                                                       R"({"number_of_steps": "0x200"})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing",
                                                       {"\"0x200\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromDoubleUnderscore",
                                                       R"({"number_of_steps": "1__000"})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing",
                                                       {"1__000"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromDoubleSign",
                                                       R"({"validation_interval": "+-1"})",
                                                       body({"validation_interval"}),
                                                       "int_parsing",
                                                       {"+-1"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromEmptyString",
                                                       R"({"number_of_steps": ""})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing",
                                                       {"the string \"\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromWord",
                                                       R"({"number_of_steps": "many"})",
                                                       body({"number_of_steps"}),
                                                       "int_parsing",
                                                       {"\"many\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"IntFromNull",
                                                       R"({"number_of_steps": null})",
                                                       body({"number_of_steps"}),
                                                       "int_type",
                                                       {"got null"}},
                                           RefusedCase{"IntFromArray",
                                                       R"({"number_of_steps": [200]})",
                                                       body({"number_of_steps"}),
                                                       "int_type",
                                                       {"an array"}},
                                           RefusedCase{"IntFromTrueOutOfRange",
                                                       R"({"number_of_steps": true})",
                                                       body({"number_of_steps"}),
                                                       "greater_than_equal",
                                                       {"number_of_steps=true", "100 to 20000"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"LiteralIntFromString",
                                                       R"({"rank": "32"})",
                                                       body({"rank"}),
                                                       "literal_error",
                                                       {"8, 16, 32, 64 or 128", "write 32 without quotes"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"LiteralIntFromBool",
                                                       R"({"rank": true})",
                                                       body({"rank"}),
                                                       "literal_error",
                                                       {"rank=true is not allowed"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"LiteralIntFromFraction",
                                                       R"({"rank": 32.5})",
                                                       body({"rank"}),
                                                       "literal_error",
                                                       {"rank=32.5"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"LiteralIntFromNull",
                                                       R"({"rank": null})",
                                                       body({"rank"}),
                                                       "literal_error",
                                                       {"rank=null"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"FloatFromWord",
                                                       R"({"learning_rate": "fast"})",
                                                       body({"learning_rate"}),
                                                       "float_parsing",
                                                       {"\"fast\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"FloatFromHexString",
                                                       R"({"learning_rate": "0x10"})",
                                                       body({"learning_rate"}),
                                                       "float_parsing",
                                                       {"0x10"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"FloatFromPaddedUnderscores",
                                                       R"({"learning_rate": " 1_000.5 "})",
                                                       body({"learning_rate"}),
                                                       "float_parsing",
                                                       {"1_000.5"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"FloatFromInfinity",
                                                       R"({"learning_rate": "inf"})",
                                                       body({"learning_rate"}),
                                                       "finite_number",
                                                       {"finite"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"FloatFromNan",
                                                       R"({"stg_scale": "NaN"})",
                                                       body({"stg_scale"}),
                                                       "finite_number",
                                                       {"finite"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"FloatFromFalseOutOfRange",
                                                       R"({"learning_rate": false})",
                                                       body({"learning_rate"}),
                                                       "greater_than",
                                                       {"greater than 0"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"FloatFromNull",
                                                       R"({"learning_rate": null})",
                                                       body({"learning_rate"}),
                                                       "float_type",
                                                       {"got null"}},
                                           RefusedCase{"BoolFromTwo",
                                                       R"({"auto_scale_input": 2})",
                                                       body({"auto_scale_input"}),
                                                       "bool_parsing",
                                                       {"got 2"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"BoolFromTwoFloat",
                                                       R"({"auto_scale_input": 2.0})",
                                                       body({"auto_scale_input"}),
                                                       "bool_parsing",
                                                       {"got 2.0"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"BoolFromFraction",
                                                       R"({"auto_scale_input": 0.5})",
                                                       body({"auto_scale_input"}),
                                                       "bool_type",
                                                       {"got 0.5"},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"BoolFromPaddedWord",
                                                       R"({"auto_scale_input": " true "})",
                                                       body({"auto_scale_input"}),
                                                       "bool_parsing",
                                                       {"\" true \""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"BoolFromFloatString",
                                                       R"({"auto_scale_input": "1.0"})",
                                                       body({"auto_scale_input"}),
                                                       "bool_parsing",
                                                       {"\"1.0\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"BoolFromUnknownWord",
                                                       R"({"auto_scale_input": "sure"})",
                                                       body({"auto_scale_input"}),
                                                       "bool_parsing",
                                                       {"\"sure\""},
                                                       1,
                                                       Modes::lax_only},
                                           RefusedCase{"BoolFromNull",
                                                       R"({"auto_scale_input": null})",
                                                       body({"auto_scale_input"}),
                                                       "bool_type",
                                                       {"got null"}},
                                           RefusedCase{"StringFromNumber",
                                                       R"({"trigger_phrase": 7})",
                                                       body({"trigger_phrase"}),
                                                       "string_type",
                                                       {"got 7"}},
                                           RefusedCase{"StringFromBool",
                                                       R"({"trigger_phrase": true})",
                                                       body({"trigger_phrase"}),
                                                       "string_type",
                                                       {"got true"}},
                                           RefusedCase{"LiteralStringOtherCase",
                                                       R"({"resolution": "Low"})",
                                                       body({"resolution"}),
                                                       "literal_error",
                                                       {"did you mean \"low\""}},
                                           RefusedCase{"LiteralStringPadded",
                                                       R"({"resolution": " low"})",
                                                       body({"resolution"}),
                                                       "literal_error",
                                                       {"\" low\""}}),
                         [](const auto& info) { return info.param.name; });

// Lax reading reports what it ignored and what it read from strings or booleans (DECISIONS.md §33).
TEST(LaxParsing, IgnoredFieldsAndCoercedValuesAreInTheNotes) {
  const auto request = parse_training_request_json(
      request_with(R"({"number_of_stepz": 200, "colour": "red", "rank": 16.0, "number_of_steps": "300",
                       "auto_scale_input": "yes",
                       "validation": [{"prompt": "p", "reference_video_url": "https://x.io/a.mp4",
                                       "reference_audio": "https://x.io/a.wav"}]})"),
      LocalFilePolicy::allow_any());
  const auto has_note = [&](const std::string& note) {
    return std::find(request.notes.begin(), request.notes.end(), note) != request.notes.end();
  };
  EXPECT_TRUE(has_note("unknown field number_of_stepz was ignored: did you mean number_of_steps?"))
      << Json(request.notes).dump(1);
  EXPECT_TRUE(has_note("unknown field colour was ignored (not a parameter of this endpoint)"))
      << Json(request.notes).dump(1);
  EXPECT_TRUE(
      has_note("unknown field validation[0].reference_audio was ignored: did you mean "
               "validation[0].reference_audio_url?"))
      << Json(request.notes).dump(1);
  EXPECT_TRUE(has_note("number_of_steps: the string \"300\" was read as 300")) << Json(request.notes).dump(1);
  EXPECT_TRUE(has_note("auto_scale_input: the string \"yes\" was read as true"))
      << Json(request.notes).dump(1);
  EXPECT_EQ(request.number_of_steps, 300);
  EXPECT_TRUE(request.auto_scale_input);
  EXPECT_EQ(request.rank, 16);
  EXPECT_FALSE(std::any_of(request.notes.begin(), request.notes.end(), [](const std::string& note) {
    return note.starts_with("rank");
  })) << "16.0 is a number: nothing to note";
}

// Cross-field rules: reference factors against BOTH the training and the validation settings.
INSTANTIATE_TEST_SUITE_P(
    CrossField, RefusedRequest,
    ::testing::Values(
        RefusedCase{
            "DownscaleDoesNotFitTrainingSize",
            R"({"reference_downscale_factor": 4, "aspect_ratio": "16:9", "validation_resolution": "medium",
                        "validation_aspect_ratio": "1:1"})",
            body({"reference_downscale_factor"}),
            "value_error",
            {"training size 768x448", "448/4 = 112 is not a multiple of 32", "Use 1 or 2",
             "low 1:1 (512x512) or medium 1:1 (768x768)"}},
        RefusedCase{"DownscaleFitsTrainingButNotValidationSize",
                    R"({"reference_downscale_factor": 4})",
                    body({"reference_downscale_factor"}),
                    "value_error",
                    {"validation size 960x960", "validation_resolution high", "960/4 = 240",
                     "Use 1, 2, 3, 5 or 6", "set validation_resolution and validation_aspect_ratio"}},
        RefusedCase{"DownscaleFitsNoSizeAtAll",
                    R"({"reference_downscale_factor": 7})",
                    body({"reference_downscale_factor"}),
                    "value_error",
                    {"no resolution accepts 7"},
                    2},
        RefusedCase{"DownscaleFailsBothSizes",
                    R"({"reference_downscale_factor": 2, "resolution": "high", "aspect_ratio": "16:9",
                        "validation_aspect_ratio": "9:16"})",
                    body({"reference_downscale_factor"}),
                    "value_error",
                    {"544/2 = 272"},
                    2},
        RefusedCase{"TemporalDoesNotFitValidationFrames",
                    R"({"reference_temporal_scale_factor": 2, "number_of_frames": 81})",
                    body({"reference_temporal_scale_factor"}),
                    "value_error",
                    {"(validation_number_of_frames-1)/2", "with 89 frames use 1",
                     "set validation_number_of_frames to 81 or 97"}},
        RefusedCase{
            "TemporalSnappedCountDoesNotFit",
            R"({"reference_temporal_scale_factor": 2, "number_of_frames": 90, "validation_number_of_frames": 97})",
            body({"reference_temporal_scale_factor"}),
            "value_error",
            {"with 89 frames (90 snapped down to 89) use 1", "or use 81 or 97 frames"}},
        RefusedCase{
            "TemporalEightOnlyFits65",
            R"({"reference_temporal_scale_factor": 8, "number_of_frames": 121, "validation_number_of_frames": 65})",
            body({"reference_temporal_scale_factor"}),
            "value_error",
            {"with 121 frames use 1, 3 or 5", "or use 65 frames"}}),
    [](const auto& info) { return info.param.name; });

// 100 frames snap to 97, which S=4 fits: the factor is checked against the snapped count.
TEST(RequestValidation, SnappedFrameCountThatFitsTheTemporalFactorIsAccepted) {
  const auto check = check_training_request_json(
      request_with(
          R"({"reference_temporal_scale_factor": 4, "number_of_frames": 100, "validation_number_of_frames": 97})"),
      LocalFilePolicy::allow_any());
  ASSERT_TRUE(check.request) << describe(check.problems);
  EXPECT_EQ(check.request->number_of_frames, 97);
  EXPECT_EQ(check.request->reference_frame_count(), 25);
}

TEST(RequestValidation, DocumentedExample89FramesWithTemporalFactor2IsA422) {
  const auto check = check_training_request_json(request_with(R"({"reference_temporal_scale_factor": 2})"),
                                                 LocalFilePolicy::allow_any());
  ASSERT_FALSE(check.request);
  ASSERT_EQ(check.problems.size(), 2u) << describe(check.problems);  // training and validation frames
  EXPECT_EQ(check.problems[0].loc, body({"reference_temporal_scale_factor"}));
  EXPECT_EQ(check.problems[0].type, "value_error");
  EXPECT_EQ(check.problems[0].msg,
            "reference_temporal_scale_factor=2 needs (number_of_frames-1)/2 to be a multiple of 8: with 89 "
            "frames use 1, "
            "or use 81 or 97 frames");
  EXPECT_NE(check.problems[1].msg.find("validation_number_of_frames"), std::string::npos);
}

TEST(RequestValidation, DownscaleFactorMustFitTheValidationBucketToo) {
  // medium 1:1 (768x768) takes d=3; high 1:1 (960x960) takes 3 too; high 16:9 (960x544) does not.
  EXPECT_TRUE(check_training_request_json(request_with(R"({"reference_downscale_factor": 3})"),
                                          LocalFilePolicy::allow_any())
                  .request);
  const auto check = check_training_request_json(
      request_with(R"({"reference_downscale_factor": 3, "validation_aspect_ratio": "16:9"})"),
      LocalFilePolicy::allow_any());
  ASSERT_EQ(check.problems.size(), 1u) << describe(check.problems);
  EXPECT_NE(check.problems[0].msg.find("validation size 960x544"), std::string::npos)
      << check.problems[0].msg;
}

// Every resolution x aspect ratio x d = 1..8, through the parser, against trainer.md §1.5's table
// (written out here, independently of buckets.cpp). The validation bucket is set to the same one.
TEST(RequestValidation, EveryBucketAndDownscaleFactorMatchesTheTrainerTable) {
  const std::map<std::pair<std::string, std::string>, std::set<int>> legal = {
      {{"low", "16:9"}, {1}},       {{"low", "1:1"}, {1, 2, 4, 8}},          {{"low", "9:16"}, {1}},
      {{"medium", "16:9"}, {1, 2}}, {{"medium", "1:1"}, {1, 2, 3, 4, 6, 8}}, {{"medium", "9:16"}, {1, 2}},
      {{"high", "16:9"}, {1}},      {{"high", "1:1"}, {1, 2, 3, 5, 6}},      {{"high", "9:16"}, {1}},
  };
  for (const auto& [bucket, factors] : legal) {
    const auto& [resolution, aspect_ratio] = bucket;
    for (int factor = 1; factor <= 8; ++factor) {
      Json overrides = {{"resolution", resolution},
                        {"aspect_ratio", aspect_ratio},
                        {"validation_resolution", resolution},
                        {"validation_aspect_ratio", aspect_ratio},
                        {"reference_downscale_factor", factor}};
      const auto check =
          check_training_request_json(request_with(overrides.dump()), LocalFilePolicy::allow_any());
      const bool expected = factors.count(factor) > 0;
      EXPECT_EQ(check.request.has_value(), expected)
          << resolution << " " << aspect_ratio << " d=" << factor << describe(check.problems);
      if (!expected) {
        ASSERT_EQ(check.problems.size(), 2u) << describe(check.problems);  // training and validation
        EXPECT_EQ(check.problems[0].loc, body({"reference_downscale_factor"}));
      } else {
        EXPECT_EQ(check.request->reference_training_size().width * factor,
                  check.request->training_size().width);
      }
    }
  }
}

// Temporal factors 1..8 against every frame count 9..121 (snapped first), through the parser, against
// trainer.md §1.5's table of legal F = 1 + 8 S k.
TEST(RequestValidation, EveryTemporalFactorAndFrameCountMatchesTheTrainerTable) {
  const std::map<int, std::set<int>> legal = {
      {1, {9, 17, 25, 33, 41, 49, 57, 65, 73, 81, 89, 97, 105, 113, 121}},
      {2, {17, 33, 49, 65, 81, 97, 113}},
      {3, {25, 49, 73, 97, 121}},
      {4, {33, 65, 97}},
      {5, {41, 81, 121}},
      {6, {49, 97}},
      {7, {57, 113}},
      {8, {65}},
  };
  int accepted = 0;
  for (const auto& [factor, counts] : legal) {
    for (int frames = 9; frames <= 121; ++frames) {
      const int snapped = frames - (frames - 1) % 8;
      Json overrides = {{"reference_temporal_scale_factor", factor},
                        {"number_of_frames", frames},
                        {"validation_number_of_frames", frames}};
      const auto check =
          check_training_request_json(request_with(overrides.dump()), LocalFilePolicy::allow_any());
      const bool expected = counts.count(snapped) > 0;
      ASSERT_EQ(check.request.has_value(), expected)
          << "F=" << frames << " S=" << factor << describe(check.problems);
      if (expected) {
        ++accepted;
        EXPECT_EQ(check.request->number_of_frames, snapped);
        EXPECT_EQ(check.request->validation_number_of_frames, snapped);
        EXPECT_EQ(check.request->snaps.size(), snapped == frames ? 0u : 2u);
      } else {
        EXPECT_EQ(check.problems.size(), 2u) << describe(check.problems);
      }
    }
  }
  // Each legal F is reached from the 8 requested counts F..F+7, except 121 (the maximum), reached only
  // from itself; 121 is legal for S = 1, 3 and 5.
  EXPECT_EQ(accepted, 8 * (15 + 7 + 5 + 3 + 3 + 2 + 2 + 1) - 3 * 7);
}

TEST(RequestValidation, SnapsAreRecordedWithANote) {
  const auto request = parse_training_request_json(
      request_with(R"({"number_of_frames": 90, "validation_number_of_frames": 100})"),
      LocalFilePolicy::allow_any());
  ASSERT_EQ(request.snaps.size(), 2u);
  EXPECT_EQ(request.snaps[0], (FrameSnap{"number_of_frames", 90, 89}));
  EXPECT_EQ(request.snaps[1], (FrameSnap{"validation_number_of_frames", 100, 97}));
  EXPECT_NE(std::find(request.notes.begin(), request.notes.end(),
                      "number_of_frames 90 snapped down to 89 (frame counts are 8k+1: 9, 17, 25, ..., 121)"),
            request.notes.end());
  for (const int exact : {9, 121}) {
    const auto unsnapped = parse_training_request_json(request_with(Json{{"number_of_frames", exact}}.dump()),
                                                       LocalFilePolicy::allow_any());
    EXPECT_EQ(unsnapped.number_of_frames, exact);
    EXPECT_TRUE(unsnapped.snaps.empty());
  }
}

TEST(RequestValidation, DefaultsFollowTheMissionTable) {
  const auto request = parse_training_request(
      std::string(R"({"training_data_url": "https://example.com/c.zip"})"), LocalFilePolicy::allow_any());
  const Json expected = {
      {"training_data_url", "https://example.com/c.zip"},
      {"trigger_phrase", ""},
      {"rank", 32},
      {"number_of_steps", 2000},
      {"learning_rate", 0.0002},
      {"reference_downscale_factor", 1},
      {"reference_temporal_scale_factor", 1},
      {"number_of_frames", 89},
      {"frame_rate", 24},
      {"resolution", "medium"},
      {"aspect_ratio", "1:1"},
      {"auto_scale_input", false},
      {"split_input_into_scenes", false},
      {"split_input_duration_threshold", 30.0},
      {"audio_normalize", true},
      {"audio_preserve_pitch", true},
      {"validation", Json::array()},
      {"validation_negative_prompt",
       "blurry, out of focus, low resolution, noisy, grainy, flickering, jittery motion, warped or deformed "
       "bodies, "
       "extra limbs, artifacts, watermark, text overlay, bad lighting, washed out colors, distorted audio, "
       "clipping, "
       "muffled sound, robotic voice, echo, background hiss, silence, off-sync speech, mismatched lip sync"},
      {"validation_number_of_frames", 89},
      {"validation_frame_rate", 24},
      {"validation_resolution", "high"},
      {"validation_aspect_ratio", "1:1"},
      {"stg_scale", 1.0},
      {"debug_dataset", false},
      {"validation_interval", 500},
  };
  EXPECT_EQ(to_json(request), expected);
  EXPECT_EQ(to_json(request).dump(), expected.dump()) << "fields in the mission table's order";
  EXPECT_EQ(request.training_size(), (VideoSize{768, 768}));
  EXPECT_EQ(request.validation_size(), (VideoSize{960, 960}));
}

TEST(RequestValidation, NormalizedRequestParsesBackToItself) {
  const auto request = parse_training_request_json(
      request_with(R"({"trigger_phrase": "in the style of TOK", "rank": 16.0, "number_of_frames": 100,
                       "reference_downscale_factor": 2, "aspect_ratio": "16:9", "validation_resolution": "medium",
                       "validation_aspect_ratio": "9:16", "learning_rate": 0.0001,
                       "validation": [{"prompt": "TOK a dog", "reference_video_url": "clips/ref.mp4"}]})"),
      LocalFilePolicy::allow_any());
  const Json normalized = to_json(request);
  const auto again = parse_training_request(normalized.dump(), LocalFilePolicy::allow_any());
  EXPECT_EQ(to_json(again), normalized);
  EXPECT_TRUE(again.snaps.empty());
  EXPECT_EQ(request.reference_training_size(), (VideoSize{384, 224}));
  EXPECT_EQ(request.reference_validation_size(), (VideoSize{224, 384}));
}

TEST(RequestValidation, DescriptionAddsNotesSizesAndBillingAfterTheRequest) {
  const auto request = parse_training_request_json(
      request_with(R"({"number_of_steps": 1000, "number_of_frames": 100, "reference_temporal_scale_factor": 4,
                       "reference_downscale_factor": 2, "validation_number_of_frames": 33})"),
      LocalFilePolicy::allow_any());
  const Json description = describe_training_request(request);
  Json request_part = description;
  for (const auto* key : {"notes", "snapped", "sizes", "billing"}) {
    ASSERT_TRUE(description.contains(key)) << key;
    request_part.erase(key);
  }
  EXPECT_EQ(request_part, to_json(request));
  EXPECT_EQ(description["billing"]["units_if_delivered"], 1000);
  EXPECT_EQ(description["billing"]["cost_usd_if_delivered"], "6.80");
  EXPECT_EQ(description["snapped"],
            Json::parse(R"([{"field": "number_of_frames", "requested": 100, "snapped": 97}])"));
  EXPECT_EQ(description["sizes"]["training"],
            Json::parse(R"({"width": 768, "height": 768, "frames": 97, "frame_rate": 24.0})"));
  EXPECT_EQ(description["sizes"]["training_reference"],
            Json::parse(R"({"width": 384, "height": 384, "frames": 25, "frame_rate": 6.0})"));
  EXPECT_EQ(description["sizes"]["validation_reference"],
            Json::parse(R"({"width": 480, "height": 480, "frames": 9, "frame_rate": 6.0})"));
}

TEST(RequestValidation, SeveralErrorsInOneRequestAreAllReported) {
  const auto check = check_training_request(
      std::string(R"({"rank": "32", "number_of_steps": 50, "learning_rate": 0, "resolution": "ultra",
                      "split_input_into_scenes": true, "stg_scale": 9, "numberOfFrames": 81,
                      "reference_temporal_scale_factor": 3,
                      "validation": [{"prompt": 1}, {"prompt": "p", "reference_video_url": "gopher://x/y"}, 5]})"),
      LocalFilePolicy::allow_any(), RequestParsing::strict);
  ASSERT_FALSE(check.request);
  const std::vector<std::pair<Loc, std::string>> expected = {
      {body({"training_data_url"}), "missing"},
      {body({"rank"}), "int_type"},
      {body({"number_of_steps"}), "greater_than_equal"},
      {body({"learning_rate"}), "greater_than"},
      {body({"resolution"}), "literal_error"},
      {body({"split_input_into_scenes"}), "value_error"},
      {body({"validation", "0", "prompt"}), "string_type"},
      {body({"validation", "0", "reference_video_url"}), "missing"},
      {body({"validation", "1", "reference_video_url"}), "url_scheme"},
      {body({"validation", "2"}), "model_type"},
      {body({"validation"}), "too_long"},
      {body({"stg_scale"}), "less_than_equal"},
      {body({"numberOfFrames"}), "extra_forbidden"},
      {body({"reference_temporal_scale_factor"}), "value_error"},  // 89 frames (default) with S=3
  };
  for (const auto& [loc, type] : expected) {
    EXPECT_NE(find_problem(check.problems, loc, type), nullptr)
        << type << " at " << loc.back() << describe(check.problems);
  }
  EXPECT_EQ(check.problems.size(), expected.size() + 1)
      << describe(check.problems);  // + validation frames with S=3
  try {
    parse_training_request(std::string(R"({"rank": 3, "steps": 9})"), LocalFilePolicy::allow_any(),
                           RequestParsing::strict);
    FAIL() << "expected InvalidInput";
  } catch (const core::InvalidInput& error) {
    EXPECT_EQ(error.http_status(), 422);
    EXPECT_EQ(error.problems().size(), 3u);  // missing url, rank, unknown "steps"
    const auto detail = nlohmann::json::parse(error.detail_json());
    ASSERT_EQ(detail["detail"].size(), 3u);
    EXPECT_EQ(detail["detail"][0]["loc"], nlohmann::json({"body", "training_data_url"}));
    EXPECT_EQ(detail["detail"][0]["type"], "missing");
    EXPECT_TRUE(detail["detail"][2]["msg"].get<std::string>().find("did you mean") != std::string::npos);
  }
}

TEST(RequestValidation, NotesWarnAboutMissingTriggerPhraseAndUnusedSettings) {
  const auto request = parse_training_request_json(
      request_with(
          R"({"trigger_phrase": " TOK ", "number_of_steps": 300, "split_input_duration_threshold": 10,
                       "validation": [{"prompt": "TOK dancing", "reference_video_url": "https://x.io/a.mp4"},
                                      {"prompt": "a cat", "reference_video_url": "https://x.io/b.mp4"}]})"),
      LocalFilePolicy::allow_any());
  const auto has_note = [&](const std::string& part) {
    return std::any_of(request.notes.begin(), request.notes.end(),
                       [&](const std::string& note) { return note.find(part) != std::string::npos; });
  };
  EXPECT_TRUE(has_note("validation[1].prompt does not contain the trigger phrase \"TOK\""));
  EXPECT_FALSE(has_note("validation[0].prompt"));
  EXPECT_TRUE(has_note("previews run only at the last step"));
  EXPECT_TRUE(has_note("split_input_duration_threshold is accepted but unused"));
  const auto plain = parse_training_request_json(request_with("{}"), LocalFilePolicy::allow_any());
  ASSERT_EQ(plain.notes.size(), 1u);
  EXPECT_NE(plain.notes[0].find("no validation reel"), std::string::npos);
}

// DECISIONS.md §21: the CLI reads any local file; the server only under its operator's directory.
TEST(RequestValidation, LocalFilesFollowThePolicy) {
  testing::TempDir allowed;
  const std::string inside = (allowed / "clips.zip").string();
  const std::string request_body =
      Json{{"training_data_url", inside},
           {"validation", {{{"prompt", "p"}, {"reference_video_url", "file://" + inside}}}}}
          .dump();
  EXPECT_TRUE(check_training_request(request_body, LocalFilePolicy::allow_any()).request);
  EXPECT_TRUE(check_training_request(request_body, LocalFilePolicy::allow_under(allowed.path())).request);

  const auto refused = check_training_request(request_body, LocalFilePolicy::refuse_all());
  ASSERT_EQ(refused.problems.size(), 2u) << describe(refused.problems);
  EXPECT_EQ(refused.problems[0].loc, body({"training_data_url"}));
  EXPECT_NE(refused.problems[0].msg.find("--allow-local-files"), std::string::npos)
      << refused.problems[0].msg;
  EXPECT_EQ(refused.problems[1].loc, (Loc{"body", "validation", "0", "reference_video_url"}));

  testing::TempDir other;
  const std::string escape = (allowed / ".." / other.path().filename() / "x.zip").string();
  const auto outside = check_training_request(Json{{"training_data_url", escape}}.dump(),
                                              LocalFilePolicy::allow_under(allowed.path()));
  ASSERT_EQ(outside.problems.size(), 1u) << describe(outside.problems);
  EXPECT_NE(outside.problems[0].msg.find("only under " + std::filesystem::canonical(allowed.path()).string()),
            std::string::npos)
      << outside.problems[0].msg;
  EXPECT_TRUE(check_training_request(Json{{"training_data_url", kZip}}.dump(), LocalFilePolicy::refuse_all())
                  .request);
}

}  // namespace
}  // namespace avtrain::service
