#pragma once
// Measurements on decoded test audio for the media tests: a tone's frequency and a click's onset.

#include <cmath>
#include <cstdint>
#include <optional>

namespace avtrain::media::testing {

// Frequency of a steady tone from its rising zero crossings (interpolated) in [begin, end).
inline double tone_frequency(const float* samples, int64_t begin, int64_t end, int sample_rate) {
  double first = -1, last = -1;
  int crossings = 0;
  for (int64_t n = begin + 1; n < end; ++n) {
    if (samples[n - 1] < 0 && samples[n] >= 0) {
      const double position = (n - 1) + samples[n - 1] / (samples[n - 1] - samples[n]);
      if (first < 0) first = position;
      last = position;
      ++crossings;
    }
  }
  if (crossings < 2) return 0;
  return (crossings - 1) * sample_rate / (last - first);
}

// Index of the first sample whose magnitude exceeds `threshold`.
inline std::optional<int64_t> first_above(const float* samples, int64_t length, float threshold) {
  for (int64_t n = 0; n < length; ++n) {
    if (std::abs(samples[n]) > threshold) return n;
  }
  return std::nullopt;
}

}  // namespace avtrain::media::testing
