// Pydantic's lax string coercions (DECISIONS.md §33), each rule against what pydantic-core 2.x returns
// for the same JSON string (docs/api.md "Lax parsing").
#include "service/request/lax_scalars.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace avtrain::service {
namespace {

struct IntCase {
  std::string text;
  std::optional<int64_t> value;
  std::string error_type;  // when value is nullopt
};

TEST(LaxScalars, IntegersFromStringsFollowPydantic) {
  const std::vector<IntCase> cases = {
      {"32", 32, ""},
      {"-3", -3, ""},
      {"0", 0, ""},
      {"-0", 0, ""},
      {"0032", 32, ""},
      {"-0032", -32, ""},
      {" 32 ", 32, ""},
      {"\t32\n", 32, ""},
      {"\u00a032", 32, ""},
      {"32\u3000", 32, ""},
      {"+32", 32, ""},
      {" +32.0 ", 32, ""},
      {"1_000", 1000, ""},
      {"32.0", 32, ""},
      {"32.00", 32, ""},
      {"000", 0, ""},
      {"0_0_1", 1, ""},
      {"1__000", {}, "int_parsing"},
      {"_1", {}, "int_parsing"},
      {"1_", {}, "int_parsing"},
      {"32.", {}, "int_parsing"},
      {"32.5", {}, "int_parsing"},
      {"0x20", {}, "int_parsing"},
      {"1e3", {}, "int_parsing"},
      {"", {}, "int_parsing"},
      {"   ", {}, "int_parsing"},
      {"abc", {}, "int_parsing"},
      {"inf", {}, "int_parsing"},
      {"+-1", {}, "int_parsing"},
      {"--1", {}, "int_parsing"},
      {"-+1", {}, "int_parsing"},
      {"++1", {}, "int_parsing"},
      {"9223372036854775807", 9223372036854775807, ""},
      {"9223372036854775808", {}, "int_parsing_size"},
      {"-9223372036854775808", std::numeric_limits<int64_t>::min(), ""},
  };
  for (const auto& c : cases) {
    const auto got = lax_int_from_string(c.text);
    EXPECT_EQ(got.value, c.value) << "\"" << c.text << "\"";
    if (!c.value) {
      EXPECT_EQ(got.error_type, c.error_type) << "\"" << c.text << "\"";
    }
  }
}

TEST(LaxScalars, NumbersFromStringsFollowPydantic) {
  const std::vector<std::pair<std::string, double>> accepted = {
      {"0.5", 0.5}, {" 0.5 ", 0.5}, {"1e-4", 1e-4},      {"1E4", 1e4},  {".5", 0.5},    {"5.", 5.0},
      {"-2", -2.0}, {"+2.5", 2.5},  {"1_000.5", 1000.5}, {"1._5", 1.5}, {"2e+3", 2000}, {"007", 7.0},
  };
  for (const auto& [text, value] : accepted) {
    const auto got = lax_float_from_string(text);
    ASSERT_TRUE(got.value) << "\"" << text << "\"";
    EXPECT_DOUBLE_EQ(*got.value, value) << "\"" << text << "\"";
  }
  for (const std::string text : {"inf", "-inf", "+Infinity", "INF", "nan", "NaN"}) {
    const auto got = lax_float_from_string(text);
    ASSERT_TRUE(got.value) << "\"" << text << "\"";
    EXPECT_FALSE(std::isfinite(*got.value)) << "\"" << text << "\"";
  }
  EXPECT_TRUE(std::isinf(*lax_float_from_string("1e400").value)) << "overflow reads as infinity, as in Rust";
  for (const std::string text :
       {"abc", "", ".", "e5", "1e", "0x10", " 1_000.5 ", "_1.5", "1.5_", "1,5", "infinit"}) {
    const auto got = lax_float_from_string(text);
    EXPECT_FALSE(got.value) << "\"" << text << "\"";
    EXPECT_EQ(got.error_type, "float_parsing") << "\"" << text << "\"";
  }
}

TEST(LaxScalars, BooleansFromStringsFollowPydantic) {
  for (const std::string text : {"1", "t", "true", "True", "TRUE", "y", "yes", "YES", "on", "On"}) {
    EXPECT_EQ(lax_bool_from_string(text).value, std::optional<bool>(true)) << "\"" << text << "\"";
  }
  for (const std::string text : {"0", "f", "false", "False", "n", "no", "No", "off", "OFF"}) {
    EXPECT_EQ(lax_bool_from_string(text).value, std::optional<bool>(false)) << "\"" << text << "\"";
  }
  for (const std::string text : {" true ", "1.0", "", "2", "yep", "truee"}) {
    const auto got = lax_bool_from_string(text);
    EXPECT_FALSE(got.value) << "\"" << text << "\"";
    EXPECT_EQ(got.error_type, "bool_parsing") << "\"" << text << "\"";
  }
}

}  // namespace
}  // namespace avtrain::service
