#include "core/float_formats.h"

#include <bit>
#include <cmath>
#include <limits>

namespace avtrain::core {

float bf16_to_float(uint16_t bits) { return std::bit_cast<float>(uint32_t{bits} << 16); }

uint16_t float_to_bf16(float value) {
  const auto bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // keep it a (quiet) NaN
  const uint32_t rounding_bias = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding_bias) >> 16);
}

float f16_to_float(uint16_t bits) {
  const uint32_t sign = (bits >> 15) & 1;
  const int exponent = (bits >> 10) & 0x1F;
  const uint32_t mantissa = bits & 0x3FF;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // subnormal: m * 2^-14 / 2^10
  } else if (exponent == 31) {
    magnitude = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

float f8_e4m3_to_float(uint8_t bits) {
  const bool negative = bits & 0x80;
  const int exponent = (bits >> 3) & 0xF;
  const int mantissa = bits & 0x7;
  float magnitude;
  if (exponent == 0xF && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);  // m/8 * 2^(1-7)
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x8), exponent - 10);  // (1+m/8) * 2^(e-7)
  }
  return negative ? -magnitude : magnitude;
}

float f8_e5m2_to_float(uint8_t bits) {
  // E5M2 is the upper byte of an IEEE half.
  return f16_to_float(static_cast<uint16_t>(bits) << 8);
}

}  // namespace avtrain::core
