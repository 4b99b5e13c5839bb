#include "service/request/field_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "service/request/closest_name.h"

namespace avtrain::service {
namespace {

std::string json_quoted(std::string_view text) { return Json(std::string(text)).dump(); }

// A JSON number as the user wrote it (shortest round-trip form).
std::string number_text(double value) { return Json(value).dump(); }

// A whole-valued double without a fraction: 150.0 -> "150".
std::string whole_text(double value) {
  return std::fabs(value) < 1e15 ? std::to_string(static_cast<int64_t>(value)) : number_text(value);
}

bool parses_as_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(value);
}

// "8, 16, 32, 64 or 128".
template <typename T, typename Format>
std::string alternatives(std::span<const T> values, Format format) {
  std::string text;
  for (size_t idx = 0; idx < values.size(); ++idx) {
    if (idx > 0) text += idx + 1 == values.size() ? " or " : ", ";
    text += format(values[idx]);
  }
  return text;
}

}  // namespace

std::string describe_json_value(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::string:
      return "the string " + value.dump();
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return value.dump();
  }
}

FieldReader::FieldReader(const Json& object, std::vector<std::string> loc, std::string label,
                         std::vector<core::Problem>& problems)
    : object_(object), loc_(std::move(loc)), label_(std::move(label)), problems_(problems) {}

const Json* FieldReader::find(std::string_view name) const {
  const auto it = object_.find(std::string(name));
  return it == object_.end() ? nullptr : &*it;
}

bool FieldReader::present(std::string_view name) const {
  const Json* value = find(name);
  return value && !value->is_null();
}

std::vector<std::string> FieldReader::loc_of(std::string_view name) const {
  auto loc = loc_;
  loc.emplace_back(name);
  return loc;
}

void FieldReader::add_problem(std::string_view name, std::string type, std::string msg) {
  problems_.push_back({loc_of(name), std::move(msg), std::move(type)});
}

std::optional<double> FieldReader::whole_number(std::string_view name, const Json& value, int64_t fallback,
                                                const std::string& usage) {
  const std::string field = label_of(name);
  if (value.is_number_unsigned()) return static_cast<double>(value.get<uint64_t>());
  if (value.is_number_integer()) return static_cast<double>(value.get<int64_t>());
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number == std::floor(number)) return number;
    add_problem(name, "int_from_float",
                field + " must be a whole number, got " + value.dump() + ": use " +
                    whole_text(std::floor(number)) + " or " + whole_text(std::ceil(number)));
    return std::nullopt;
  }
  std::string hint = usage + " (the default is " + std::to_string(fallback) + ")";
  double parsed = 0;
  if (value.is_string() && parses_as_number(value.get<std::string>(), parsed)) {
    hint = "write " + value.get<std::string>() + " without quotes";
  } else if (value.is_null()) {
    hint = "give a whole number, or leave " + std::string(name) + " out for the default " +
           std::to_string(fallback);
  }
  add_problem(name, "int_type",
              field + " must be an integer, got " + describe_json_value(value) + ": " + hint);
  return std::nullopt;
}

std::optional<int64_t> FieldReader::integer(std::string_view name, int64_t fallback, int64_t min,
                                            int64_t max) {
  const Json* value = find(name);
  if (!value) return fallback;
  const std::string field = label_of(name);
  const std::string range = "use a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  const auto number = whole_number(name, *value, fallback, range);
  if (!number) return std::nullopt;
  if (*number < static_cast<double>(min)) {
    add_problem(name, "greater_than_equal",
                field + "=" + value->dump() + " is below the minimum " + std::to_string(min) + ": " + range);
    return std::nullopt;
  }
  if (*number > static_cast<double>(max)) {
    add_problem(name, "less_than_equal",
                field + "=" + value->dump() + " is above the maximum " + std::to_string(max) + ": " + range);
    return std::nullopt;
  }
  return static_cast<int64_t>(*number);
}

std::optional<int64_t> FieldReader::integer_choice(std::string_view name, int64_t fallback,
                                                   std::span<const int64_t> allowed) {
  const Json* value = find(name);
  if (!value) return fallback;
  const std::string usage = "use " + alternatives(allowed, [](int64_t v) { return std::to_string(v); });
  const auto number = whole_number(name, *value, fallback, usage);
  if (!number) return std::nullopt;
  for (const int64_t choice : allowed) {
    if (static_cast<double>(choice) == *number) return choice;
  }
  add_problem(name, "literal_error",
              label_of(name) + "=" + value->dump() + " is not allowed: " + usage + " (the default is " +
                  std::to_string(fallback) + ")");
  return std::nullopt;
}

std::optional<double> FieldReader::number(std::string_view name, double fallback, double min,
                                          bool min_exclusive, std::optional<double> max) {
  const Json* value = find(name);
  if (!value) return fallback;
  const std::string field = label_of(name);
  const std::string range = max ? "use a number from " + number_text(min) + " to " + number_text(*max)
                                : "use a number greater than " + number_text(min) + " (the default is " +
                                      number_text(fallback) + ")";
  if (!value->is_number()) {
    std::string hint = range;
    double parsed = 0;
    if (value->is_string() && parses_as_number(value->get<std::string>(), parsed)) {
      hint = "write " + value->get<std::string>() + " without quotes";
    } else if (value->is_null()) {
      hint = "give a number, or leave " + std::string(name) + " out for the default " + number_text(fallback);
    }
    add_problem(name, "float_type",
                field + " must be a number, got " + describe_json_value(*value) + ": " + hint);
    return std::nullopt;
  }
  const double number = value->get<double>();
  if (min_exclusive ? !(number > min) : number < min) {
    add_problem(name, min_exclusive ? "greater_than" : "greater_than_equal",
                field + "=" + value->dump() +
                    (min_exclusive ? " must be greater than " : " is below the minimum ") + number_text(min) +
                    ": " + range);
    return std::nullopt;
  }
  if (max && number > *max) {
    add_problem(name, "less_than_equal",
                field + "=" + value->dump() + " is above the maximum " + number_text(*max) + ": " + range);
    return std::nullopt;
  }
  return number;
}

std::optional<bool> FieldReader::boolean(std::string_view name, bool fallback) {
  const Json* value = find(name);
  if (!value) return fallback;
  if (value->is_boolean()) return value->get<bool>();
  std::string hint = "write true or false (the default is " + std::string(fallback ? "true" : "false") + ")";
  if (value->is_string() && (value->get<std::string>() == "true" || value->get<std::string>() == "false")) {
    hint = "write " + value->get<std::string>() + " without quotes";
  }
  add_problem(name, "bool_type",
              label_of(name) + " must be true or false, got " + describe_json_value(*value) + ": " + hint);
  return std::nullopt;
}

std::optional<std::string> FieldReader::string(std::string_view name, std::optional<std::string> fallback,
                                               std::string_view missing_hint) {
  const Json* value = find(name);
  if (!value) {
    if (fallback) return fallback;
    add_problem(name, "missing", label_of(name) + " is required: " + std::string(missing_hint));
    return std::nullopt;
  }
  if (value->is_string()) return value->get<std::string>();
  std::string hint = "write it in double quotes";
  if (value->is_number() || value->is_boolean()) hint += ", as " + json_quoted(value->dump());
  if (value->is_null() && fallback)
    hint = "give a string, or leave " + std::string(name) + " out for the default";
  add_problem(name, "string_type",
              label_of(name) + " must be a string, got " + describe_json_value(*value) + ": " + hint);
  return std::nullopt;
}

std::optional<std::string> FieldReader::string_choice(std::string_view name, std::string_view fallback,
                                                      std::span<const std::string_view> allowed) {
  auto text = string(name, std::string(fallback));
  if (!text) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), *text) != allowed.end()) return text;
  std::string msg = label_of(name) + " " + json_quoted(*text) + " is not allowed: use " +
                    alternatives(allowed, [](std::string_view v) { return json_quoted(v); }) +
                    " (the default is " + json_quoted(fallback) + ")";
  if (const auto closest = closest_name(*text, allowed))
    msg += "; did you mean " + json_quoted(*closest) + "?";
  add_problem(name, "literal_error", std::move(msg));
  return std::nullopt;
}

void FieldReader::refuse_unknown(std::span<const std::string_view> known) {
  for (const auto& [key, value] : object_.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string msg = label_of(key) + " is not a known field";
    if (const auto closest = closest_name(key, known)) {
      msg += ": did you mean " + label_of(*closest) + "? Rename it";
    } else {
      msg += ": remove it (known fields: " +
             alternatives(known, [](std::string_view v) { return std::string(v); }) + ")";
    }
    add_problem(key, "extra_forbidden", std::move(msg));
  }
}

}  // namespace avtrain::service
