#pragma once
// Webhook delivery for the HTTP queue service (issue 13): when a job finishes, its outcome is POSTed
// to the URL the client gave with `?fal_webhook=URL`, in the hosted queue's webhook shape
// (../shared/specs/anchors.md §4.1): {request_id, gateway_request_id, status: "OK" | "ERROR",
// payload, error, payload_error}.
//
// Delivery is at least once: an attempt whose answer is lost (timeout, dropped connection) is sent
// again, so receivers may see a body twice and dedupe on request_id, as they do with the hosted queue.
// The destination is checked like a download's (DECISIONS.md §21): loopback, private and link-local
// addresses are refused on the address each connection goes to, and redirects are never followed, so
// a webhook cannot be used to reach the server's internal network.

#include <chrono>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace avtrain::service {

struct WebhookOptions {
  int max_attempts = 6;  // attempts in all, the first included
  // Retry k (k >= 1) waits first_backoff * 2^(k-1), capped at max_backoff: 1+2+4+8+16 s by default.
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds timeout{10000};  // per attempt: connecting, sending, and the answer
  // DECISIONS.md §21: refuse non-public destinations unless the operator allows them.
  bool allow_private_destinations = false;
};

// The webhook body for a finished job. ok (succeeded): status "OK", payload = the result JSON, error
// null. Not ok (failed or cancelled): status "ERROR", payload = the error body ({"detail": [...]}),
// error = `error_message` made one line; when that is empty, the first detail's msg. gateway_request_id
// is request_id (no gateway in front of avtrain); payload_error is null (the payload always serializes).
nlohmann::ordered_json webhook_body(std::string_view request_id, bool ok, const nlohmann::json& payload,
                                    std::string_view error_message);

enum class WebhookResult {
  delivered,  // the receiver answered 2xx
  rejected,   // final: a 3xx (redirects are not followed) or 4xx other than 408/429, a refused
              // destination, a URL that is not http(s), a TLS certificate the receiver's name fails
  gave_up,    // every attempt failed with a retryable outcome
  stopped,    // `stop` returned true
};
std::string_view to_string(WebhookResult result);

// Extra header lines ("Name: value") for one delivery attempt: the signature (webhook_signing.h), made
// again for every attempt so its timestamp is current.
using WebhookHeaders = std::function<std::vector<std::string>()>;

// POSTs `body` (Content-Type: application/json, User-Agent: avtrain, and `headers`' lines) to `url`. Retries
// after HTTP 5xx, 408 and 429, connection failures and timeouts, with the backoff of `options`. `stop`, when
// given, is polled before each attempt, during an attempt (libcurl's progress callback, about once a second
// at worst) and every 50 ms of a backoff wait, so a shutting-down server gets `stopped` promptly. Each
// attempt's outcome is logged to core::logger("service") with the URL redacted (redacted_url).
// Never throws for anything the URL or the receiver does.
WebhookResult deliver_webhook(const std::string& url, const std::string& body, const WebhookOptions& options,
                              const std::function<bool()>& stop = {}, const WebhookHeaders& headers = {});

// Why `url` cannot be a webhook destination (not an absolute http:// or https:// URL with a host),
// as one message naming the fal_webhook parameter and saying what to give instead; nullopt when it can
// be. The HTTP API answers 422 with it on submit. Whether the destination is public is only known
// once its name resolves, so deliver_webhook checks that.
std::optional<std::string> webhook_url_problem(std::string_view url);

}  // namespace avtrain::service
