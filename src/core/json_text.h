#pragma once
// JSON as text, whatever bytes its strings hold: a string that is not valid UTF-8 (a file name, a path
// decoded from a URL, a header a client sent) gets U+FFFD for each bad byte instead of making
// nlohmann::json throw. Every output that can carry text from outside goes through it.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace avtrain::core {

template <typename Json>
std::string json_text(const Json& value, int indent = -1) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// Why parsing failed, for a person: nlohmann's message without its "[json.exception.parse_error.101] "
// tag. Parsing throws parse_error for bad syntax and out_of_range for a number too large for a double
// (1e999): callers catch json::exception to refuse both.
inline std::string json_failure_text(const nlohmann::json::exception& error) {
  std::string text = error.what();
  if (const auto bracket = text.find("] ");
      text.starts_with("[json.exception") && bracket != std::string::npos) {
    text.erase(0, bracket + 2);
  }
  return text;
}

}  // namespace avtrain::core
