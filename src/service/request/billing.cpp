#include "service/request/billing.h"

#include <algorithm>

namespace avtrain::service {

int64_t billable_units(int64_t number_of_steps, JobOutcome outcome) {
  return outcome == JobOutcome::delivered ? std::max(kMinimumBilledUnits, number_of_steps) : 0;
}

std::string format_cost_usd(int64_t units) {
  const int64_t total = units * kPricePerUnitTenThousandthsUsd;  // ten-thousandths of a dollar
  std::string fraction = std::to_string(total % 10000);
  fraction.insert(0, 4 - fraction.size(), '0');
  while (fraction.size() > 2 && fraction.back() == '0') fraction.pop_back();
  return std::to_string(total / 10000) + "." + fraction;
}

Billing bill(int64_t number_of_steps, JobOutcome outcome) {
  const int64_t units = billable_units(number_of_steps, outcome);
  return {units, format_cost_usd(units)};
}

}  // namespace avtrain::service
