// Billing (MISSION.md "Billing", DECISIONS.md §32): max(100, steps) units at 0.0068 USD, only when the
// outputs were delivered; costs print exactly.
#include "service/request/billing.h"

#include <gtest/gtest.h>

namespace avtrain::service {
namespace {

struct BillingCase {
  int64_t steps;
  JobOutcome outcome;
  int64_t units;
  std::string cost_usd;
};

class BillingTable : public ::testing::TestWithParam<BillingCase> {};

TEST_P(BillingTable, BillsUnitsAndPrintsTheCostExactly) {
  const auto& param = GetParam();
  const Billing billing = bill(param.steps, param.outcome);
  EXPECT_EQ(billing.units, param.units) << param.steps;
  EXPECT_EQ(billing.cost_usd, param.cost_usd) << param.steps;
}

INSTANTIATE_TEST_SUITE_P(
    Steps, BillingTable,
    ::testing::Values(BillingCase{1000, JobOutcome::delivered, 1000, "6.80"},  // the mission's example
                      BillingCase{2000, JobOutcome::delivered, 2000, "13.60"},
                      BillingCase{100, JobOutcome::delivered, 100, "0.68"},
                      BillingCase{50, JobOutcome::delivered, 100, "0.68"},  // the 100-unit minimum
                      BillingCase{137, JobOutcome::delivered, 137, "0.9316"},
                      BillingCase{20000, JobOutcome::delivered, 20000, "136.00"},
                      BillingCase{1001, JobOutcome::delivered, 1001, "6.8068"},
                      BillingCase{2000, JobOutcome::failed, 0, "0.00"},
                      BillingCase{2000, JobOutcome::cancelled, 0, "0.00"}));

TEST(Billing, EveryStepCountPrintsTheExactDecimalProduct) {
  for (int64_t steps = 100; steps <= 20000; steps += 7) {
    const std::string cost = format_cost_usd(steps);
    const auto dot = cost.find('.');
    ASSERT_NE(dot, std::string::npos);
    std::string digits = cost.substr(dot + 1);
    digits.append(4 - digits.size(), '0');
    EXPECT_EQ(std::stoll(cost.substr(0, dot)) * 10000 + std::stoll(digits), steps * 68) << cost;
  }
}

}  // namespace
}  // namespace avtrain::service
