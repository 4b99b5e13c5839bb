#pragma once
// UTF-8 text checks for whatever users send (file names, URLs, captions, prompts): where a byte string
// stops being UTF-8, and where it holds a control character.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace avtrain::core {

// Length of the UTF-8 sequence starting at text[pos], or 0 when none starts there (a stray byte, a
// truncated sequence, an overlong form, a surrogate, a value beyond U+10FFFF).
size_t utf8_length(std::string_view text, size_t pos);
// The code point of the valid sequence of `length` bytes at text[pos].
uint32_t decode_utf8_at(std::string_view text, size_t pos, size_t length);

// The offset of the first byte that starts no valid UTF-8 sequence; nullopt when `text` is UTF-8.
std::optional<size_t> invalid_utf8_at(std::string_view text);
// The offset of the first C0 control character (U+0000..U+001F) or DEL; nullopt when there is none.
std::optional<size_t> control_character_at(std::string_view text);

// Why `text` cannot be a name or a location (a URL, a path, a file name): "holds a control character
// (0x00 at byte 12)" or "is not UTF-8 text (byte 3 is 0xFF)"; nullopt when it can. Control characters
// never belong there: a NUL would cut a path short where the operating system reads it, a newline would
// split a log line or a header.
std::optional<std::string> text_problem(std::string_view text);

}  // namespace avtrain::core
