#pragma once
// The known name closest to a misspelt one, for "unknown field" messages (STYLE.md §4: say what to do).

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace avtrain::service {

// Levenshtein distance (insertions, deletions and substitutions each cost 1).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `name`, compared case-insensitively and ignoring '_', '-' and ' ' (so
// "numberOfSteps" finds "number_of_steps"). A candidate that contains the whole name (4+ characters:
// "steps" -> "number_of_steps") wins; otherwise the smallest edit distance, ties broken by the plain
// distance and then by order. nullopt when nothing contains the name and even the nearest needs
// more than max(2, length/3) edits: then it is no suggestion.
std::optional<std::string> closest_name(std::string_view name, std::span<const std::string_view> candidates);

}  // namespace avtrain::service
