#pragma once
// Pydantic's lax coercions of JSON strings to numbers and booleans (DECISIONS.md §33), as the hosted
// service's request models apply them (pydantic-core 2.x: input/shared.rs str_as_int, str_as_float,
// str_as_bool). docs/api.md tables every rule; each has a test.
//
//   lax_int_from_string(" +1_000 ")  -> 1000          lax_int_from_string("32.0") -> 32
//   lax_int_from_string("32.5")      -> int_parsing   lax_float_from_string("1e-4") -> 0.0001
//   lax_bool_from_string("Yes")      -> true          lax_bool_from_string(" true ") -> bool_parsing

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace avtrain::service {

// A coerced value, or the pydantic error type naming why not ("int_parsing", "int_parsing_size",
// "float_parsing", "bool_parsing").
template <typename T>
struct LaxValue {
  std::optional<T> value;
  std::string error_type;
};

// str -> int: a JSON integer; else, after trimming whitespace, one leading '+' or '-', leading zeros,
// a fraction of zeros only ("32.00") and single underscores between digits ("1_000"), a JSON integer.
// Out of the int64 range: int_parsing_size.
LaxValue<int64_t> lax_int_from_string(std::string_view text);

// str -> float: the trimmed text as a decimal or exponent number, or inf / infinity / nan (any case,
// optional sign); failing that, the untrimmed text without its inner underscores ("1_000.5").
LaxValue<double> lax_float_from_string(std::string_view text);

// str -> bool: exactly (letters in any case, no trimming) 1, t, true, y, yes, on -> true and
// 0, f, false, n, no, off -> false.
LaxValue<bool> lax_bool_from_string(std::string_view text);

}  // namespace avtrain::service
