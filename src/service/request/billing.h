#pragma once
// Billing of a training job (MISSION.md "Billing", DECISIONS.md §32): a job that delivered its outputs
// is billed max(100, number_of_steps) units at 0.0068 USD per unit; a job that failed at any stage or
// was cancelled is billed 0. Money is counted in integer ten-thousandths of a dollar, so every cost
// prints exactly (1000 steps -> "6.80", 137 steps -> minimum 100 units -> "0.68").

#include <cstdint>
#include <string>

namespace avtrain::service {

inline constexpr int64_t kMinimumBilledUnits = 100;
inline constexpr int64_t kPricePerUnitTenThousandthsUsd = 68;  // 0.0068 USD
inline constexpr const char* kPricePerUnitUsd = "0.0068";

enum class JobOutcome { delivered, failed, cancelled };

struct Billing {
  int64_t units = 0;
  std::string cost_usd;  // exact decimal, at least two places: "6.80", "0.9316", "0.00"
};

int64_t billable_units(int64_t number_of_steps, JobOutcome outcome);
std::string format_cost_usd(int64_t units);
Billing bill(int64_t number_of_steps, JobOutcome outcome);

}  // namespace avtrain::service
