#include "service/request/field_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "service/request/closest_name.h"
#include "service/request/lax_scalars.h"

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

std::vector<std::string> field_loc(std::string_view field) {
  std::vector<std::string> loc = {"body"};
  std::string part;
  for (const char c : field) {
    if (c == '.' || c == '[' || c == ']') {
      if (!part.empty()) loc.push_back(std::move(part));
      part.clear();
    } else {
      part += c;
    }
  }
  if (!part.empty()) loc.push_back(std::move(part));
  return loc;
}

FieldReader::FieldReader(const Json& object, std::vector<std::string> loc, std::string label,
                         RequestParsing parsing, std::vector<core::Problem>& problems,
                         std::vector<std::string>& notes)
    : object_(object),
      loc_(std::move(loc)),
      label_(std::move(label)),
      parsing_(parsing),
      problems_(problems),
      notes_(notes) {}

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

void FieldReader::note_coercion(std::string_view name, const Json& value, const std::string& result) {
  notes_.push_back(label_of(name) + ": " + describe_json_value(value) + " was read as " + result);
}

std::optional<double> FieldReader::whole_number(std::string_view name, const Json& value, int64_t fallback,
                                                const std::string& usage) {
  const std::string field = label_of(name);
  if (value.is_number_unsigned()) return static_cast<double>(value.get<uint64_t>());
  if (value.is_number_integer()) return static_cast<double>(value.get<int64_t>());
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number != std::floor(number)) {
      add_problem(name, "int_from_float",
                  field + " must be a whole number, got " + value.dump() + ": use " +
                      whole_text(std::floor(number)) + " or " + whole_text(std::ceil(number)));
      return std::nullopt;
    }
    if (lax() && std::fabs(number) >= 9.2233720368547758e18) {
      add_problem(name, "int_parsing_size",
                  field + "=" + value.dump() + " is too large for an integer: " + usage);
      return std::nullopt;
    }
    return number;
  }
  if (lax() && value.is_boolean()) {
    const int64_t number = value.get<bool>() ? 1 : 0;
    note_coercion(name, value, std::to_string(number));
    return static_cast<double>(number);
  }
  if (lax() && value.is_string()) {
    const auto parsed = lax_int_from_string(value.get<std::string>());
    if (parsed.value) {
      note_coercion(name, value, std::to_string(*parsed.value));
      return static_cast<double>(*parsed.value);
    }
    add_problem(name, parsed.error_type,
                field + " must be an integer, got " + describe_json_value(value) +
                    (parsed.error_type == "int_parsing_size" ? ", too large for an integer: "
                                                             : ", which does not read as one: ") +
                    usage);
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
  const auto refuse = [&](const std::string& hint) {
    add_problem(name, "literal_error",
                label_of(name) + "=" + value->dump() + " is not allowed: " + usage + " (the default is " +
                    std::to_string(fallback) + ")" + hint);
    return std::nullopt;
  };
  // A pydantic Literal compares numbers by value (32.0 is 32) and takes no strings or booleans.
  if (lax() && !value->is_number()) {
    double parsed = 0;
    const bool numeric = value->is_string() && parses_as_number(value->get<std::string>(), parsed);
    return refuse(numeric ? ": write " + value->get<std::string>() + " without quotes" : "");
  }
  if (lax() && value->is_number_float() && value->get<double>() != std::floor(value->get<double>())) {
    return refuse("");
  }
  const auto number = whole_number(name, *value, fallback, usage);
  if (!number) return std::nullopt;
  for (const int64_t choice : allowed) {
    if (static_cast<double>(choice) == *number) return choice;
  }
  return refuse("");
}

std::optional<double> FieldReader::number(std::string_view name, double fallback, double min,
                                          bool min_exclusive, std::optional<double> max) {
  const Json* value = find(name);
  if (!value) return fallback;
  const std::string field = label_of(name);
  const std::string range = max ? "use a number from " + number_text(min) + " to " + number_text(*max)
                                : "use a number greater than " + number_text(min) + " (the default is " +
                                      number_text(fallback) + ")";
  double number = 0;
  if (value->is_number()) {
    number = value->get<double>();
  } else if (lax() && value->is_boolean()) {
    number = value->get<bool>() ? 1.0 : 0.0;
    note_coercion(name, *value, number_text(number));
  } else if (lax() && value->is_string()) {
    const auto parsed = lax_float_from_string(value->get<std::string>());
    if (!parsed.value) {
      add_problem(name, parsed.error_type,
                  field + " must be a number, got " + describe_json_value(*value) +
                      ", which does not read as one: " + range);
      return std::nullopt;
    }
    number = *parsed.value;
    if (std::isfinite(number)) note_coercion(name, *value, number_text(number));
  } else {
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
  // Differs from pydantic, which lets inf and nan through a float field without bounds: no setting
  // means anything infinite (DECISIONS.md §33, docs/api.md).
  if (!std::isfinite(number)) {
    add_problem(name, "finite_number",
                field + " must be a finite number, got " + describe_json_value(*value) + ": " + range);
    return std::nullopt;
  }
  const std::string written = value->is_number() ? value->dump() : number_text(number);
  if (min_exclusive ? !(number > min) : number < min) {
    add_problem(name, min_exclusive ? "greater_than" : "greater_than_equal",
                field + "=" + written +
                    (min_exclusive ? " must be greater than " : " is below the minimum ") + number_text(min) +
                    ": " + range);
    return std::nullopt;
  }
  if (max && number > *max) {
    add_problem(name, "less_than_equal",
                field + "=" + written + " is above the maximum " + number_text(*max) + ": " + range);
    return std::nullopt;
  }
  return number;
}

std::optional<bool> FieldReader::boolean(std::string_view name, bool fallback) {
  const Json* value = find(name);
  if (!value) return fallback;
  if (value->is_boolean()) return value->get<bool>();
  const std::string usage =
      "write true or false (the default is " + std::string(fallback ? "true" : "false") + ")";
  if (lax()) {
    // pydantic: 0/1 (also 0.0/1.0) and the words of lax_bool_from_string; another whole number or an
    // unknown word is bool_parsing, a fraction or any other type bool_type.
    std::optional<bool> read;
    std::string type = "bool_type";
    if (value->is_number()) {
      const double number = value->get<double>();
      if (number == 0 || number == 1) {
        read = number == 1;
      } else if (number == std::floor(number)) {
        type = "bool_parsing";
      }
    } else if (value->is_string()) {
      const auto parsed = lax_bool_from_string(value->get<std::string>());
      read = parsed.value;
      type = parsed.error_type;
    }
    if (read) {
      note_coercion(name, *value, *read ? "true" : "false");
      return read;
    }
    add_problem(name, type,
                label_of(name) + " must be true or false, got " + describe_json_value(*value) + ": " + usage);
    return std::nullopt;
  }
  std::string hint = usage;
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

void FieldReader::check_unknown(std::span<const std::string_view> known) {
  for (const auto& [key, value] : object_.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const auto closest = closest_name(key, known);
    if (lax()) {
      notes_.push_back(
          "unknown field " + label_of(key) + " was ignored" +
          (closest ? ": did you mean " + label_of(*closest) + "?" : " (not a parameter of this endpoint)"));
      continue;
    }
    std::string msg = label_of(key) + " is not a known field";
    if (closest) {
      msg += ": did you mean " + label_of(*closest) + "? Rename it";
    } else {
      msg += ": remove it (known fields: " +
             alternatives(known, [](std::string_view v) { return std::string(v); }) + ")";
    }
    add_problem(key, "extra_forbidden", std::move(msg));
  }
}

}  // namespace avtrain::service
