#pragma once
// The request's parameters described for a form (the dashboard's New job page, issue 26; served at
// GET {prefix}/schema): each field's type, default, range or choices and the help text of MISSION.md,
// in MISSION.md's order. The defaults are the normalized default request's (to_json), so they cannot
// drift from the parser's; the ranges and choices restate the parser's, which
// tests/service/request/request_schema_test.cpp checks against check_training_request at every bound.
#include <nlohmann/json.hpp>

namespace avtrain::service {

// {"fields": [{"name", "type" ("string" | "url" | "integer" | "number" | "boolean" | "validation"),
//   "default", "required", "help", optional "minimum", "maximum", "exclusive_minimum", "choices",
//   "snap" ("8k+1"), "max_items", "item_fields" (for validation)}], "billing": {"unit_usd", "minimum_units"}}
nlohmann::ordered_json request_schema();

}  // namespace avtrain::service
