#pragma once
// Reads typed fields of one JSON object of a request, collecting a pydantic-style problem for every
// field that is missing, of the wrong type or out of range (STYLE.md §4: all problems at once).
//
// Two ways of reading (DECISIONS.md §33; docs/api.md tables both):
// - lax (the service, `train`, `validate`): pydantic's lax mode, as the hosted service's request models
//   read JSON. Integers also from whole-valued floats (2.0), booleans (true -> 1) and numeric strings
//   ("32", " 1_000 ", "32.0"); numbers also from numeric strings ("2e-4", "inf") and booleans; booleans
//   also from 0/1, 0.0/1.0 and the words 1/t/true/y/yes/on, 0/f/false/n/no/off in any case. Choice
//   fields are pydantic Literals: rank takes 32 or 32.0, not "32"; resolution takes "medium" exactly.
//   Strings are never coerced from other types. Unknown fields are ignored. Each ignored field and
//   each value read from a string or a boolean is reported in `notes`, so typos stay visible. One
//   deviation: a number that is not finite (nan, inf, which pydantic lets through an unbounded float
//   field) is refused as `finite_number`: no training setting means anything infinite.
// - strict (`avtrain validate --strict`): integers only from JSON integers and whole-valued floats,
//   numbers only from JSON numbers, booleans only from true and false, unknown fields refused as
//   `extra_forbidden` with the closest known name.
// null is refused everywhere (the type's error), except where a field is documented optional without
// a default (`present` lets the caller treat null as absent). A failed type check skips the range
// check of that field, as pydantic does.

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

enum class RequestParsing { lax, strict };

// How a JSON value reads in a message: `the string "32"`, `true`, `null`, `an array`, `150.5`.
std::string describe_json_value(const Json& value);

// The 422 location of a field as messages name it: "validation[0].reference_video_url" ->
// ["body", "validation", "0", "reference_video_url"] (error.cpp writes the index as a number).
std::vector<std::string> field_loc(std::string_view field);

class FieldReader {
 public:
  // `object` must be a JSON object; `loc` is its location (["body"] or ["body", "validation", "0"]) and
  // `label` its prefix in messages ("" or "validation[0]."); lax reading adds its notes to `notes`.
  FieldReader(const Json& object, std::vector<std::string> loc, std::string label, RequestParsing parsing,
              std::vector<core::Problem>& problems, std::vector<std::string>& notes);

  // Each reader returns the field's value; `fallback` when the field is absent (a missing problem when
  // there is no fallback); nullopt when the value was refused (its problem recorded).
  std::optional<int64_t> integer(std::string_view name, int64_t fallback, int64_t min, int64_t max);
  // A Literal of integers (rank).
  std::optional<int64_t> integer_choice(std::string_view name, int64_t fallback,
                                        std::span<const int64_t> allowed);
  // lower bound `min` is exclusive when `min_exclusive` (learning_rate > 0).
  std::optional<double> number(std::string_view name, double fallback, double min, bool min_exclusive,
                               std::optional<double> max);
  std::optional<bool> boolean(std::string_view name, bool fallback);
  // `missing_hint` finishes the message of a missing required string ("... is required: <hint>").
  std::optional<std::string> string(std::string_view name, std::optional<std::string> fallback,
                                    std::string_view missing_hint = "add it");
  // A Literal of strings (resolution, aspect_ratio).
  std::optional<std::string> string_choice(std::string_view name, std::string_view fallback,
                                           std::span<const std::string_view> allowed);

  bool present(std::string_view name) const;  // present and not null
  const Json* find(std::string_view name) const;
  // Every key of the object that is not in `known`, with the closest known name: a note that it was
  // ignored (lax) or an extra_forbidden problem (strict).
  void check_unknown(std::span<const std::string_view> known);

  std::vector<std::string> loc_of(std::string_view name) const;
  std::string label_of(std::string_view name) const { return label_ + std::string(name); }
  void add_problem(std::string_view name, std::string type, std::string msg);

 private:
  bool lax() const { return parsing_ == RequestParsing::lax; }
  // The value of an integer field as a double (JSON integers, whole-valued floats and, lax, numeric
  // strings and booleans); otherwise records the type problem. `usage` finishes the type message.
  std::optional<double> whole_number(std::string_view name, const Json& value, int64_t fallback,
                                     const std::string& usage);
  void note_coercion(std::string_view name, const Json& value, const std::string& result);

  const Json& object_;
  std::vector<std::string> loc_;
  std::string label_;
  RequestParsing parsing_;
  std::vector<core::Problem>& problems_;
  std::vector<std::string>& notes_;
};

}  // namespace avtrain::service
