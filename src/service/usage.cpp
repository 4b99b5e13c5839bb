#include "service/usage.h"

#include <nlohmann/json.hpp>

#include "service/request/billing.h"
#include "service/time_text.h"

namespace avtrain::service {

nlohmann::ordered_json usage_json(const KeyUsage& usage, int64_t from_ms, int64_t to_ms) {
  const auto end = [](int64_t ms, bool open) {
    return open ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(iso8601(ms));
  };
  return {{"from", end(from_ms, from_ms == kBeginningOfTime)},
          {"to", end(to_ms, to_ms == kNoEnd)},
          {"jobs", usage.jobs},
          {"succeeded", usage.succeeded},
          {"failed", usage.failed},
          {"cancelled", usage.cancelled},
          {"units", usage.units},
          {"usd", format_cost_usd(usage.units)}};
}

}  // namespace avtrain::service
