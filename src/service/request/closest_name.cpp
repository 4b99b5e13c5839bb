#include "service/request/closest_name.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <tuple>
#include <vector>

namespace avtrain::service {
namespace {

std::string folded(std::string_view name) {
  std::string result;
  for (const unsigned char c : name) {
    if (c != '_' && c != '-' && c != ' ') result += static_cast<char>(std::tolower(c));
  }
  return result;
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  std::iota(previous.begin(), previous.end(), size_t{0});
  for (size_t a_idx = 1; a_idx <= a.size(); ++a_idx) {
    current[0] = a_idx;
    for (size_t b_idx = 1; b_idx <= b.size(); ++b_idx) {
      const size_t substitution = previous[b_idx - 1] + (a[a_idx - 1] == b[b_idx - 1] ? 0 : 1);
      current[b_idx] = std::min({previous[b_idx] + 1, current[b_idx - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::string> closest_name(std::string_view name, std::span<const std::string_view> candidates) {
  const std::string key = folded(name);
  // Score: a candidate containing the whole name ("steps" in "number_of_steps") first, then the folded
  // distance, then the plain one.
  using Score = std::tuple<bool, size_t, size_t>;
  std::optional<std::string_view> best;
  Score best_score{};
  for (const auto candidate : candidates) {
    const std::string folded_candidate = folded(candidate);
    const bool contains = key.size() >= 4 && folded_candidate.find(key) != std::string::npos;
    const Score score{!contains, edit_distance(key, folded_candidate), edit_distance(name, candidate)};
    if (!best || score < best_score) {
      best = candidate;
      best_score = score;
    }
  }
  if (!best) return std::nullopt;
  const auto [not_contained, distance, plain_distance] = best_score;
  if (not_contained && distance > std::max<size_t>(2, key.size() / 3)) return std::nullopt;
  return std::string(*best);
}

}  // namespace avtrain::service
