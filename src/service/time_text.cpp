#include "service/time_text.h"

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace avtrain::service {

std::string iso8601(int64_t unix_ms) {
  const std::time_t seconds = unix_ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, unix_ms % 1000);
}

std::optional<int64_t> parse_time_ms(std::string_view text) {
  int64_t seconds = 0;
  if (const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
      error == std::errc() && end == text.data() + text.size()) {
    return seconds * 1000;
  }
  const std::string copy(text);
  std::tm utc{};
  const char* rest = ::strptime(copy.c_str(), "%Y-%m-%d", &utc);
  if (rest && *rest == 'T') rest = ::strptime(rest + 1, "%H:%M:%S", &utc);
  if (rest && *rest == 'Z') ++rest;
  if (!rest || *rest != '\0') return std::nullopt;
  return static_cast<int64_t>(::timegm(&utc)) * 1000;
}

}  // namespace avtrain::service
