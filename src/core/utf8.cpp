#include "core/utf8.h"

namespace avtrain::core {

size_t utf8_length(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  size_t length = 0;
  uint32_t code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(pos + i) & 0x3F);
  }
  // Overlong forms, surrogates and values beyond U+10FFFF are not UTF-8.
  static constexpr uint32_t kMinimum[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

uint32_t decode_utf8_at(std::string_view text, size_t pos, size_t length) {
  const auto lead = static_cast<uint8_t>(text[pos]);
  if (length == 1) return lead;
  uint32_t code = lead & (0xFF >> (length + 1));
  for (size_t i = 1; i < length; ++i) code = (code << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3F);
  return code;
}

std::optional<size_t> invalid_utf8_at(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = utf8_length(text, pos);
    if (length == 0) return pos;
    pos += length;
  }
  return std::nullopt;
}

std::optional<size_t> control_character_at(std::string_view text) {
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const auto c = static_cast<uint8_t>(text[pos]);
    if (c < 0x20 || c == 0x7F) return pos;
  }
  return std::nullopt;
}

std::optional<std::string> text_problem(std::string_view text) {
  const auto hex_byte = [&](size_t pos) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const auto c = static_cast<unsigned char>(text[pos]);
    return std::string("0x") + kHex[c >> 4] + kHex[c & 15];
  };
  if (const auto pos = control_character_at(text)) {
    return "holds a control character (" + hex_byte(*pos) + " at byte " + std::to_string(*pos) + ")";
  }
  if (const auto pos = invalid_utf8_at(text)) {
    return "is not UTF-8 text (byte " + std::to_string(*pos) + " is " + hex_byte(*pos) + ")";
  }
  return std::nullopt;
}

}  // namespace avtrain::core
