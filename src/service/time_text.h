#pragma once
// Times as the API writes and reads them: ISO 8601 in UTC with milliseconds ("2026-12-07T18:44:08.453Z"),
// and the forms a client may send (a date, a UTC date and time, Unix seconds).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace avtrain::service {

// Unix milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string iso8601(int64_t unix_ms);
// "2026-12-01", "2026-12-01T12:00:00Z" (UTC) or Unix seconds ("1764547200") as Unix milliseconds;
// nullopt when `text` is none of them.
std::optional<int64_t> parse_time_ms(std::string_view text);

}  // namespace avtrain::service
