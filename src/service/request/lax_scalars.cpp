#include "service/request/lax_scalars.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace avtrain::service {
namespace {

// Unicode White_Space beyond ASCII, as UTF-8 (Rust's str::trim, which pydantic-core uses).
constexpr std::array<std::string_view, 19> kWideSpaces = {
    "\u0085", "\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006",
    "\u2007", "\u2008", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"};
constexpr std::string_view kAsciiSpaces = " \t\n\v\f\r";

// The length of the whitespace character at the start (or end) of `text`; 0 when there is none.
size_t space_at_start(std::string_view text) {
  if (text.empty()) return 0;
  if (kAsciiSpaces.find(text.front()) != std::string_view::npos) return 1;
  for (const auto space : kWideSpaces) {
    if (text.starts_with(space)) return space.size();
  }
  return 0;
}

size_t space_at_end(std::string_view text) {
  if (text.empty()) return 0;
  if (kAsciiSpaces.find(text.back()) != std::string_view::npos) return 1;
  for (const auto space : kWideSpaces) {
    if (text.ends_with(space)) return space.size();
  }
  return 0;
}

std::string_view trim(std::string_view text) {
  while (const size_t n = space_at_start(text)) text.remove_prefix(n);
  while (const size_t n = space_at_end(text)) text.remove_suffix(n);
  return text;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The JSON integer grammar -?(0|[1-9][0-9]*).
bool is_json_integer(std::string_view text) {
  if (text.starts_with('-')) text.remove_prefix(1);
  if (text.empty() || !std::all_of(text.begin(), text.end(), is_digit)) return false;
  return text.size() == 1 || text.front() != '0';
}

LaxValue<int64_t> json_integer(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return {std::nullopt, "int_parsing_size"};
  if (error != std::errc() || end != text.data() + text.size()) return {std::nullopt, "int_parsing"};
  return {value, {}};
}

// "0032" -> "32", "000" -> "0", "0.5" -> "0.5"; nullopt unless the text starts with a digit and its
// leading zeros (underscores allowed among them) end in a digit, a '.' or the end.
std::optional<std::string_view> strip_leading_zeros(std::string_view text) {
  if (text.empty() || !is_digit(text.front())) return std::nullopt;
  if (text.front() != '0') return text;
  for (size_t pos = 1; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (c == '0' || c == '_') continue;
    if (c >= '1' && c <= '9') return text.substr(pos);
    if (c == '.') return text.substr(pos - 1);
    return std::nullopt;
  }
  return std::string_view("0");
}

// Single underscores between other characters removed; nullopt for a leading, trailing or double one.
std::optional<std::string> strip_underscores(std::string_view text) {
  if (text.starts_with('_') || text.ends_with('_') || text.find("__") != std::string_view::npos) {
    return std::nullopt;
  }
  std::string stripped;
  std::copy_if(text.begin(), text.end(), std::back_inserter(stripped), [](char c) { return c != '_'; });
  return stripped;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Rust's f64 grammar: sign? (inf | infinity | nan | (digits | digits '.' digits? | '.' digits) exponent?).
std::optional<double> rust_float(std::string_view text) {
  std::string_view body = text;
  bool negative = false;
  if (!body.empty() && (body.front() == '+' || body.front() == '-')) {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (equals_ignoring_case(body, "inf") || equals_ignoring_case(body, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (equals_ignoring_case(body, "nan")) return std::numeric_limits<double>::quiet_NaN();
  size_t pos = 0;
  const auto digits = [&] {
    const size_t start = pos;
    while (pos < body.size() && is_digit(body[pos])) ++pos;
    return pos - start;
  };
  size_t mantissa_digits = digits();
  if (pos < body.size() && body[pos] == '.') {
    ++pos;
    mantissa_digits += digits();
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (pos < body.size() && (body[pos] == 'e' || body[pos] == 'E')) {
    ++pos;
    if (pos < body.size() && (body[pos] == '+' || body[pos] == '-')) ++pos;
    if (digits() == 0) return std::nullopt;
  }
  if (pos != body.size()) return std::nullopt;
  // The grammar is checked: strtod's only part left is the conversion (overflow -> inf, as Rust's).
  const std::string digits_text(body);
  const double magnitude = std::strtod(digits_text.c_str(), nullptr);
  return negative ? -magnitude : magnitude;
}

}  // namespace

LaxValue<int64_t> lax_int_from_string(std::string_view text) {
  if (is_json_integer(text)) return json_integer(text);
  const LaxValue<int64_t> unparsable{std::nullopt, "int_parsing"};
  std::string_view rest = trim(text);
  bool negative = false;
  if (rest.starts_with('+')) {
    rest.remove_prefix(1);
    if (rest.starts_with('-')) return unparsable;
  } else if (rest.starts_with('-')) {
    negative = true;
    rest.remove_prefix(1);
    if (rest.starts_with('-') || rest.starts_with('+')) return unparsable;
  }
  const auto without_zeros = strip_leading_zeros(rest);
  if (!without_zeros) return unparsable;
  rest = *without_zeros;
  if (const auto dot = rest.find('.'); dot != std::string_view::npos) {
    const auto fraction = rest.substr(dot + 1);
    if (!fraction.empty() && fraction.find_first_not_of('0') == std::string_view::npos)
      rest = rest.substr(0, dot);
  }
  std::string cleaned(rest);
  if (cleaned.find('_') != std::string::npos) {
    const auto stripped = strip_underscores(cleaned);
    if (!stripped) return unparsable;
    cleaned = *stripped;
  }
  if (negative) cleaned = "-" + cleaned;
  if (cleaned == text || !is_json_integer(cleaned)) return unparsable;
  return json_integer(cleaned);
}

LaxValue<double> lax_float_from_string(std::string_view text) {
  if (const auto value = rust_float(trim(text))) return {value, {}};
  if (text.find('_') != std::string_view::npos && !text.starts_with('_') && !text.ends_with('_')) {
    std::string stripped;
    std::copy_if(text.begin(), text.end(), std::back_inserter(stripped), [](char c) { return c != '_'; });
    if (const auto value = rust_float(stripped)) return {value, {}};
  }
  return {std::nullopt, "float_parsing"};
}

LaxValue<bool> lax_bool_from_string(std::string_view text) {
  for (const std::string_view word : {"1", "t", "true", "y", "yes", "on"}) {
    if (equals_ignoring_case(text, word)) return {true, {}};
  }
  for (const std::string_view word : {"0", "f", "false", "n", "no", "off"}) {
    if (equals_ignoring_case(text, word)) return {false, {}};
  }
  return {std::nullopt, "bool_parsing"};
}

}  // namespace avtrain::service
