#pragma once
// Usage as the API answers it (GET /usage) and `avtrain usage` prints it: per key, the jobs finished in
// a period by outcome, the units billed and their cost (MISSION.md "Billing").
#include <cstdint>
#include <limits>
#include <nlohmann/json_fwd.hpp>

#include "service/job_store.h"

namespace avtrain::service {

// The open ends of a period: from the start of time, to no end.
inline constexpr int64_t kBeginningOfTime = 0;
inline constexpr int64_t kNoEnd = std::numeric_limits<int64_t>::max();

// {"from", "to" (ISO 8601, null for an open end), "jobs", "succeeded", "failed", "cancelled", "units",
// "usd"}.
nlohmann::ordered_json usage_json(const KeyUsage& usage, int64_t from_ms, int64_t to_ms);

}  // namespace avtrain::service
