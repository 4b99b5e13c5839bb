#pragma once
// Reads typed fields of one JSON object of a request, collecting a pydantic-style problem for every
// field that is missing, of the wrong type or out of range (STYLE.md §4: all problems at once).
//
// Type rules (pydantic's lax mode where it is sensible for a JSON API, stricter where lax mode
// hides mistakes):
// - integer fields take JSON integers and whole-valued floats (2.0 -> 2, as pydantic's lax mode and
//   as Python clients that write json.dumps(2.0) expect); 2.5 is `int_from_float`. Strings ("32")
//   and booleans are refused as `int_type`: pydantic would coerce them, but a quoted number or a
//   true in a numeric field is a client bug worth reporting, and the hosted schema documents numbers.
// - number fields take any JSON number; strings and booleans are `float_type`.
// - boolean fields take only true and false (`bool_type`): "true", 1 or "yes" are refused.
// - string fields take only strings (`string_type`), as pydantic v2 does.
// - null is refused everywhere (the type's error), except where a field is documented optional
//   without a default (`present` lets the caller treat null as absent).
// A failed type check skips the range check of that field, as pydantic does.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace avtrain::service {

using Json = nlohmann::ordered_json;

// How a JSON value reads in a message: `the string "32"`, `true`, `null`, `an array`, `150.5`.
std::string describe_json_value(const Json& value);

class FieldReader {
 public:
  // `object` must be a JSON object; `loc` is its location (["body"] or ["body", "validation", "0"]) and
  // `label` its prefix in messages ("" or "validation[0].").
  FieldReader(const Json& object, std::vector<std::string> loc, std::string label,
              std::vector<core::Problem>& problems);

  // Each reader returns the field's value; `fallback` when the field is absent (a missing problem when
  // there is no fallback); nullopt when the value was refused (its problem recorded).
  std::optional<int64_t> integer(std::string_view name, int64_t fallback, int64_t min, int64_t max);
  std::optional<int64_t> integer_choice(std::string_view name, int64_t fallback,
                                        std::span<const int64_t> allowed);
  // lower bound `min` is exclusive when `min_exclusive` (learning_rate > 0).
  std::optional<double> number(std::string_view name, double fallback, double min, bool min_exclusive,
                               std::optional<double> max);
  std::optional<bool> boolean(std::string_view name, bool fallback);
  // `missing_hint` finishes the message of a missing required string ("... is required: <hint>").
  std::optional<std::string> string(std::string_view name, std::optional<std::string> fallback,
                                    std::string_view missing_hint = "add it");
  std::optional<std::string> string_choice(std::string_view name, std::string_view fallback,
                                           std::span<const std::string_view> allowed);

  bool present(std::string_view name) const;  // present and not null
  const Json* find(std::string_view name) const;
  // Every key of the object that is not in `known`: extra_forbidden, with the closest known name.
  void refuse_unknown(std::span<const std::string_view> known);

  std::vector<std::string> loc_of(std::string_view name) const;
  std::string label_of(std::string_view name) const { return label_ + std::string(name); }
  void add_problem(std::string_view name, std::string type, std::string msg);

 private:
  // A JSON integer or whole-valued float as a double; otherwise records int_type / int_from_float.
  std::optional<double> whole_number(std::string_view name, const Json& value, int64_t fallback,
                                     const std::string& usage);

  const Json& object_;
  std::vector<std::string> loc_;
  std::string label_;
  std::vector<core::Problem>& problems_;
};

}  // namespace avtrain::service
