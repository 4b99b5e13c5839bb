#include "service/request/request_schema.h"

#include <gtest/gtest.h>

#include "service/request/training_request.h"

namespace avtrain::service {
namespace {

using nlohmann::ordered_json;

// The problems `check_training_request` finds at ["body", field] for a request setting only `value`.
std::vector<core::Problem> problems_at(const std::string& field, const ordered_json& value) {
  ordered_json body{{"training_data_url", "https://example.com/clips.zip"}};
  body[field] = value;
  const auto check = check_training_request_json(body, LocalFilePolicy::refuse_all(), RequestParsing::strict);
  std::vector<core::Problem> found;
  for (const auto& problem : check.problems) {
    if (problem.loc.size() == 2 && problem.loc[1] == field) found.push_back(problem);
  }
  return found;
}

// Whether the parser refuses `value` for `field` as out of range or not a choice (a cross-field rule
// may still refuse a value in range, e.g. a downscale factor the validation size does not divide).
bool refused_as_out_of_range(const std::string& field, const ordered_json& value) {
  for (const auto& problem : problems_at(field, value)) {
    if (problem.type == "greater_than" || problem.type == "greater_than_equal" ||
        problem.type == "less_than_equal" || problem.type == "literal_error")
      return true;
  }
  return false;
}

TEST(RequestSchema, ListsEveryFieldInMissionOrderWithTheParsersDefaults) {
  const auto schema = request_schema();
  const auto defaults = to_json(TrainingRequest{});
  std::vector<std::string> names, expected;
  for (const auto& field : schema["fields"]) names.push_back(field["name"]);
  for (const auto& [name, value] : defaults.items()) expected.push_back(name);
  EXPECT_EQ(names, expected);
  for (const auto& field : schema["fields"]) {
    const std::string name = field["name"];
    EXPECT_FALSE(field["help"].get<std::string>().empty()) << name;
    if (name == "training_data_url") {
      EXPECT_TRUE(field["required"].get<bool>());
      continue;
    }
    EXPECT_EQ(field["default"], defaults[name]) << name;
    // The default is accepted as it stands.
    EXPECT_TRUE(problems_at(name, field["default"]).empty()) << name << " = " << field["default"].dump();
  }
  EXPECT_EQ(schema["billing"]["unit_usd"], "0.0068");
  EXPECT_EQ(schema["billing"]["minimum_units"], 100);
}

TEST(RequestSchema, EveryRangeAndChoiceIsTheParsers) {
  int bounds_checked = 0;
  const auto schema = request_schema();
  for (const auto& field : schema["fields"]) {
    const std::string name = field["name"];
    const std::string type = field["type"];
    if (field.contains("minimum")) {
      const double step = type == "integer" ? 1 : 0.5;
      EXPECT_FALSE(refused_as_out_of_range(name, field["minimum"])) << name << " minimum";
      EXPECT_FALSE(refused_as_out_of_range(name, field["maximum"])) << name << " maximum";
      ordered_json below = type == "integer" ? ordered_json(field["minimum"].get<int>() - 1)
                                             : ordered_json(field["minimum"].get<double>() - step);
      ordered_json above = type == "integer" ? ordered_json(field["maximum"].get<int>() + 1)
                                             : ordered_json(field["maximum"].get<double>() + step);
      EXPECT_TRUE(refused_as_out_of_range(name, below)) << name << " below its minimum: " << below;
      EXPECT_TRUE(refused_as_out_of_range(name, above)) << name << " above its maximum: " << above;
      ++bounds_checked;
    }
    if (field.contains("exclusive_minimum")) {
      EXPECT_TRUE(refused_as_out_of_range(name, field["exclusive_minimum"])) << name;
      EXPECT_FALSE(refused_as_out_of_range(name, field["exclusive_minimum"].get<double>() + 1e-6)) << name;
      ++bounds_checked;
    }
    if (field.contains("choices")) {
      for (const auto& choice : field["choices"])
        EXPECT_FALSE(refused_as_out_of_range(name, choice)) << name << choice;
      const ordered_json other = field["choices"][0].is_string() ? ordered_json("extreme") : ordered_json(7);
      EXPECT_TRUE(refused_as_out_of_range(name, other)) << name << " = " << other;
      ++bounds_checked;
    }
  }
  EXPECT_EQ(bounds_checked, 16);  // 10 ranges, learning_rate, 5 choice fields
}

}  // namespace
}  // namespace avtrain::service
