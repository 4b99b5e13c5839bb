// config_file (DECISIONS.md §27).
#include "service/request/config_file.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace avtrain::service {
namespace {

TEST(ConfigFile, CarriesTheSettingsAndTheNormalizedRequest) {
  const auto request = parse_training_request(
      std::string(R"({"training_data_url": "https://example.com/c.zip", "trigger_phrase": "TOK", "rank": 16,
                      "number_of_steps": 1200, "reference_downscale_factor": 2, "aspect_ratio": "16:9",
                      "number_of_frames": 100, "frame_rate": 30, "validation_resolution": "medium"})"),
      LocalFilePolicy::allow_any());
  const auto config = make_config_file(request, "ltx-2.3-22b-dev", TrainingShape::of(request));
  const nlohmann::ordered_json expected_head = {{"trigger_phrase", "TOK"},
                                                {"training_type", "av2av"},
                                                {"base_model", "ltx-2.3-22b-dev"},
                                                {"rank", 16},
                                                {"alpha", 16},
                                                {"reference_downscale_factor", 2},
                                                {"reference_temporal_scale_factor", 1},
                                                {"number_of_frames", 97},
                                                {"frame_rate", 30.0},
                                                {"width", 768},
                                                {"height", 448},
                                                {"steps", 1200},
                                                {"learning_rate", 0.0002}};
  for (const auto& [key, value] : expected_head.items()) EXPECT_EQ(config[key], value) << key;
  EXPECT_EQ(config["validation"],
            nlohmann::ordered_json::parse(
                R"({"width": 768, "height": 768, "number_of_frames": 89, "frame_rate": 24.0})"));
  EXPECT_EQ(config["request"], to_json(request));
  EXPECT_EQ(config.size(), expected_head.size() + 2);
  EXPECT_EQ(config.begin().key(), "trigger_phrase");
}

// DECISIONS.md §35: the config states what training used when an operator override replaced the sizes.
TEST(ConfigFile, StatesTheSizesTrainingUsedWithTheRequestBeside) {
  const auto request = parse_training_request(
      std::string(R"({"training_data_url": "https://example.com/c.zip"})"), LocalFilePolicy::allow_any());
  TrainingShape trained = TrainingShape::of(request);
  trained.width = trained.height = trained.validation_width = trained.validation_height = 64;
  trained.frames = trained.validation_frames = 17;
  trained.steps = 200;
  const auto config = make_config_file(request, "tiny", trained);
  EXPECT_EQ(config["width"], 64);
  EXPECT_EQ(config["height"], 64);
  EXPECT_EQ(config["number_of_frames"], 17);
  EXPECT_EQ(config["steps"], 200);
  EXPECT_EQ(config["validation"]["number_of_frames"], 17);
  EXPECT_EQ(config["request"]["number_of_steps"], 2000) << "the request as normalized, beside";
  EXPECT_EQ(config["request"]["resolution"], "medium");
}

}  // namespace
}  // namespace avtrain::service
