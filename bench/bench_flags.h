#pragma once
// Reading the benchmarks' integer flags: a value that is not a whole number ends the program with a line
// naming the flag and the value (std::stoll alone would abort with "stoll").

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

namespace avtrain::bench {

inline int64_t integer_flag(const std::string& flag, const std::string& value) {
  std::size_t used = 0;
  try {
    const int64_t number = std::stoll(value, &used);
    if (used == value.size()) return number;
  } catch (const std::exception&) {
  }
  std::cerr << flag << " expects a whole number, got '" << value << "'\n";
  std::exit(2);
}

}  // namespace avtrain::bench
