#pragma once
// Scalar conversions of the narrow float formats safetensors carries (torch-free). LibTorch 1.13 has
// no float8 type, so F8 tensors stay raw bytes until these decode them.

#include <cstdint>

namespace avtrain::core {

float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float value);  // round to nearest even; NaN stays NaN
float f16_to_float(uint16_t bits);
// OCP FP8 E4M3 (finite-only: S.1111.111 is NaN, no infinities; bias 7; max 448).
float f8_e4m3_to_float(uint8_t bits);
// OCP FP8 E5M2 (IEEE-like: bias 15, infinities and NaNs).
float f8_e5m2_to_float(uint8_t bits);

}  // namespace avtrain::core
