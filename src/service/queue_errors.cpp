#include "service/queue_errors.h"

#include <nlohmann/json.hpp>

namespace avtrain::service {

nlohmann::ordered_json request_error_body(std::string_view error_type, int http_status,
                                          std::string_view message) {
  return {{"detail", message},
          {"error_type", error_type},
          {"status", http_status},
          {"billing", {{"units", 0}, {"cost_usd", "0.00"}}}};
}

}  // namespace avtrain::service
