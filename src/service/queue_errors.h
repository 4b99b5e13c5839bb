#pragma once
// The hosted queue's request errors (docs/api.md "Error types"): a job that ended for a reason of the
// queue rather than of its input carries a machine-readable `error_type` in its error body and in the
// X-Fal-Error-Type header of its result, as the hosted service sends them. Input and dataset problems
// keep the 422 body of `detail` problems, without one.
#include <nlohmann/json_fwd.hpp>
#include <string_view>

namespace avtrain::service {

// Still queued at its X-Fal-Request-Timeout deadline: 504, billed 0.
inline constexpr std::string_view kRequestTimeout = "request_timeout";
// The server running it was lost (and the job asked for no retry, or crashed the server 3 times): 503.
inline constexpr std::string_view kRunnerDisconnected = "runner_disconnected";
// Cancelled through the API: 499.
inline constexpr std::string_view kClientCancelled = "client_cancelled";
// A malformed queue header (X-Fal-Request-Timeout): 400.
inline constexpr std::string_view kBadRequest = "bad_request";

// {"detail": message, "error_type": type, "status": http_status, "billing": {"units": 0, "cost_usd":
// "0.00"}}.
nlohmann::ordered_json request_error_body(std::string_view error_type, int http_status,
                                          std::string_view message);

}  // namespace avtrain::service
