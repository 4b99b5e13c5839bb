#pragma once
// JSON as text, whatever bytes its strings hold: a string that is not valid UTF-8 (a file name, a path
// decoded from a URL, a header a client sent) gets U+FFFD for each bad byte instead of making
// nlohmann::json throw. Every output that can carry text from outside goes through it.
#include <nlohmann/json.hpp>
#include <string>

namespace avtrain::core {

template <typename Json>
std::string json_text(const Json& value, int indent = -1) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace avtrain::core
