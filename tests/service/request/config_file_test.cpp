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
  const auto config = make_config_file(request, "ltx-2.3-22b-dev");
  const nlohmann::ordered_json expected_head = {{"trigger_phrase", "TOK"},
                                                {"training_type", "av2av"},
                                                {"base_model", "ltx-2.3-22b-dev"},
                                                {"rank", 16},
                                                {"alpha", 16},
                                                {"reference_downscale_factor", 2},
                                                {"reference_temporal_scale_factor", 1},
                                                {"number_of_frames", 97},
                                                {"frame_rate", 30},
                                                {"width", 768},
                                                {"height", 448},
                                                {"steps", 1200},
                                                {"learning_rate", 0.0002}};
  for (const auto& [key, value] : expected_head.items()) EXPECT_EQ(config[key], value) << key;
  EXPECT_EQ(config["request"], to_json(request));
  EXPECT_EQ(config.size(), expected_head.size() + 1);
  EXPECT_EQ(config.begin().key(), "trigger_phrase");
}

}  // namespace
}  // namespace avtrain::service
