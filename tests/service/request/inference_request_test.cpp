#include "service/request/inference_request.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "service/request/training_request.h"

namespace avtrain::service {
namespace {

using nlohmann::ordered_json;

ordered_json minimal() {
  return {{"request_id", "3f2b8c1e-0000-4000-8000-000000000001"},
          {"reference_video_url", "https://example.com/clip.mp4"},
          {"prompt", "ZQX a scene"}};
}

TEST(InferenceRequest, DefaultsAndARoundTrip) {
  const auto check = check_inference_request(minimal().dump(), LocalFilePolicy::refuse_all());
  ASSERT_TRUE(check.request) << check.problems.size();
  const auto& request = *check.request;
  EXPECT_EQ(request.number_of_frames, 89);
  EXPECT_EQ(request.size().width, 960);
  EXPECT_EQ(request.num_inference_steps, 30);
  EXPECT_FALSE(request.reference_audio_url);
  EXPECT_EQ(request.negative_prompt, kDefaultValidationNegativePrompt);
  const auto again = parse_inference_request_json(to_json(request), LocalFilePolicy::refuse_all());
  EXPECT_EQ(to_json(again), to_json(request));
}

TEST(InferenceRequest, FramesSnapDownWithANoteAndUnknownFieldsAreNamed) {
  auto body = minimal();
  body["number_of_frames"] = 20;
  body["resolutoin"] = "low";
  const auto check = check_inference_request(body.dump(), LocalFilePolicy::refuse_all());
  ASSERT_TRUE(check.request);
  EXPECT_EQ(check.request->number_of_frames, 17);
  std::string notes;
  for (const auto& note : check.request->notes) notes += note + "\n";
  EXPECT_NE(notes.find("snapped down to 17"), std::string::npos) << notes;
  EXPECT_NE(notes.find("resolution"), std::string::npos) << notes;
}

TEST(InferenceRequest, EveryProblemAtOnceAtItsField) {
  ordered_json body{{"request_id", "x"},     {"reference_video_url", "file:///etc/passwd"},
                    {"number_of_frames", 5}, {"num_inference_steps", 1},
                    {"lora_strength", 3},    {"resolution", "huge"}};
  const auto check = check_inference_request(body.dump(), LocalFilePolicy::refuse_all());
  EXPECT_FALSE(check.request);
  EXPECT_EQ(check.request_id, "x");
  std::vector<std::string> fields;
  for (const auto& problem : check.problems) fields.push_back(problem.loc.back());
  for (const std::string field : {"reference_video_url", "prompt", "number_of_frames", "num_inference_steps",
                                  "lora_strength", "resolution"}) {
    EXPECT_NE(std::find(fields.begin(), fields.end(), field), fields.end()) << field;
  }
  EXPECT_EQ(check_inference_request("[1]", LocalFilePolicy::refuse_all()).problems.at(0).type,
            "model_attributes_type");
  EXPECT_EQ(check_inference_request("{", LocalFilePolicy::refuse_all()).problems.at(0).type, "json_invalid");
}

}  // namespace
}  // namespace avtrain::service
