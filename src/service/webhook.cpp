#include "service/webhook.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "service/checked_transfer.h"
#include "service/fetch.h"

namespace avtrain::service {
namespace {

constexpr std::string_view kField = "fal_webhook";
// How much of a receiver's answer a log line quotes: enough for an error message, not a page.
constexpr size_t kQuotedAnswerBytes = 200;
constexpr std::chrono::milliseconds kStopPollInterval{50};

struct CurlListCleanup {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlListPtr = std::unique_ptr<curl_slist, CurlListCleanup>;
struct CurlUrlCleanup {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using CurlUrlPtr = std::unique_ptr<CURLU, CurlUrlCleanup>;

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower;
}

// One line of at most `limit` characters: a receiver's answer or a job's message inside a log line
// or the webhook's `error` field.
std::string one_line(std::string_view text, size_t limit = std::string::npos) {
  std::string line;
  for (const char c : text.substr(0, std::min(limit, text.size()))) {
    line += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  if (limit < text.size()) line += "...";
  return line;
}

// What one attempt ended with.
struct Attempt {
  enum class Outcome { delivered, retry, reject, stopped } outcome = Outcome::retry;
  std::string description;  // "the receiver answered HTTP 503: <its answer>"
};

// State the libcurl callbacks share with the attempt.
struct Transfer {
  const WebhookOptions* options = nullptr;
  const std::function<bool()>* stop = nullptr;
  std::string answer;  // the start of the receiver's answer, for the log
  bool stopped = false;
  DestinationGuard guard;
};

size_t keep_answer_start(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer.answer.size() < kQuotedAnswerBytes) {
    transfer.answer.append(data, std::min(bytes, kQuotedAnswerBytes - transfer.answer.size()));
  }
  return bytes;  // the rest is read and dropped: the answer's body means nothing to delivery
}

int poll_stop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& transfer = *static_cast<Transfer*>(user);
  if (*transfer.stop && (*transfer.stop)()) {
    transfer.stopped = true;
    return 1;  // aborts with CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

Attempt attempt_delivery(const std::string& url, const std::string& body, const WebhookOptions& options,
                         const std::function<bool()>& stop, const WebhookHeaders& extra_headers) {
  using Outcome = Attempt::Outcome;
  Transfer transfer{&options, &stop};
  transfer.guard = {options.allow_private_destinations, "delivers webhooks only to", std::nullopt};
  CurlPtr curl;
  try {
    curl = new_checked_transfer(url, transfer.guard);
  } catch (const core::Error& error) {
    return {Outcome::retry, error.what()};
  }
  CURL* c = curl.get();
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  // No "Expect: 100-continue" round trip before larger bodies: send the body at once.
  if (list) list = curl_slist_append(list, "Expect:");
  if (extra_headers) {
    for (const auto& line : extra_headers()) {
      if (list) list = curl_slist_append(list, line.c_str());
    }
  }
  const CurlListPtr headers(list);
  if (!headers) return {Outcome::retry, "libcurl could not build the request headers (out of memory)"};
  const long timeout_ms = std::max(1L, static_cast<long>(options.timeout.count()));
  // A redirect would take the body to a destination nobody checked: a 3xx is final.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_answer_start);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, poll_stop);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);

  const CURLcode code = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

  if (transfer.stopped) return {Outcome::stopped, "stopped during the attempt"};
  if (transfer.guard.refused && code != CURLE_OK) return {Outcome::reject, *transfer.guard.refused};
  const std::string detail = error_buffer[0] ? std::string(error_buffer) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OK:
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return {Outcome::retry, fmt::format("no answer within {} ms ({})", timeout_ms, detail)};
    // Name resolution can fail for a while (a receiver's DNS being changed), so it is retried too.
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return {Outcome::retry, fmt::format("the connection failed ({})", detail)};
    case CURLE_PEER_FAILED_VERIFICATION:
      return {
          Outcome::reject,
          fmt::format("the receiver's TLS certificate does not verify ({}): give a URL whose server has a "
                      "valid certificate",
                      detail)};
    default:
      return {Outcome::reject, fmt::format("libcurl failed: {}", detail)};
  }
  const std::string answer =
      transfer.answer.empty() ? "" : ": " + one_line(transfer.answer, kQuotedAnswerBytes);
  if (status >= 200 && status < 300) return {Outcome::delivered, fmt::format("HTTP {}", status)};
  if (status >= 300 && status < 400) {
    return {Outcome::reject,
            fmt::format("the receiver answered HTTP {} (a redirect, which webhooks do not follow so the body "
                        "goes only where the URL says): give the final URL",
                        status)};
  }
  const std::string answered = fmt::format("the receiver answered HTTP {}{}", status, answer);
  if (status >= 500 || status == 408 || status == 429) return {Outcome::retry, answered};
  return {Outcome::reject, answered};
}

// Retry k (k >= 1) waits first_backoff * 2^(k-1), capped at max_backoff.
std::chrono::milliseconds backoff_before_retry(int retry, const WebhookOptions& options) {
  auto delay = options.first_backoff;
  for (int k = 1; k < retry && delay < options.max_backoff; ++k) delay *= 2;
  return std::min(delay, options.max_backoff);
}

bool stop_requested(const std::function<bool()>& stop) { return stop && stop(); }

// Sleeps for `delay` in slices so a stop request ends the wait; false when it did.
bool wait_unless_stopped(std::chrono::milliseconds delay, const std::function<bool()>& stop) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (stop_requested(stop)) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        until - std::chrono::steady_clock::now(), kStopPollInterval));
  }
  return !stop_requested(stop);
}

}  // namespace

nlohmann::ordered_json webhook_body(std::string_view request_id, bool ok, const nlohmann::json& payload,
                                    std::string_view error_message) {
  nlohmann::ordered_json body;
  body["request_id"] = request_id;
  body["gateway_request_id"] = request_id;
  body["status"] = ok ? "OK" : "ERROR";
  body["payload"] = nlohmann::ordered_json(payload);
  if (ok) {
    body["error"] = nullptr;
  } else {
    std::string message = one_line(error_message);
    if (message.empty() && payload.is_object()) {
      const auto detail = payload.find("detail");
      if (detail != payload.end() && detail->is_array() && !detail->empty() && detail->front().is_object()) {
        const auto msg = detail->front().find("msg");
        if (msg != detail->front().end() && msg->is_string()) message = one_line(msg->get<std::string>());
      }
    }
    body["error"] = message.empty() ? "the job failed" : message;
  }
  body["payload_error"] = nullptr;
  return body;
}

std::string_view to_string(WebhookResult result) {
  switch (result) {
    case WebhookResult::delivered:
      return "delivered";
    case WebhookResult::rejected:
      return "rejected";
    case WebhookResult::gave_up:
      return "gave_up";
    case WebhookResult::stopped:
      return "stopped";
  }
  return "unknown";
}

WebhookResult deliver_webhook(const std::string& url, const std::string& body, const WebhookOptions& options,
                              const std::function<bool()>& stop, const WebhookHeaders& headers) {
  auto& log = core::logger("service");
  const std::string shown = redacted_url(url);
  if (const auto problem = webhook_url_problem(url)) {
    log.warn("webhook {}: not sent: {}", shown, *problem);
    return WebhookResult::rejected;
  }
  const int attempts = std::max(1, options.max_attempts);
  for (int attempt_idx = 1; attempt_idx <= attempts; ++attempt_idx) {
    if (stop_requested(stop)) {
      log.info("webhook {}: stopped before attempt {}/{}; not delivered", shown, attempt_idx, attempts);
      return WebhookResult::stopped;
    }
    const Attempt attempt = attempt_delivery(url, body, options, stop, headers);
    switch (attempt.outcome) {
      case Attempt::Outcome::delivered:
        log.info("webhook {}: delivered ({}) on attempt {}/{}", shown, attempt.description, attempt_idx,
                 attempts);
        return WebhookResult::delivered;
      case Attempt::Outcome::stopped:
        log.info("webhook {}: stopped during attempt {}/{}; not delivered", shown, attempt_idx, attempts);
        return WebhookResult::stopped;
      case Attempt::Outcome::reject:
        log.warn("webhook {}: not delivered: {} (attempt {}/{}, not retried)", shown, attempt.description,
                 attempt_idx, attempts);
        return WebhookResult::rejected;
      case Attempt::Outcome::retry:
        break;
    }
    if (attempt_idx == attempts) {
      log.warn("webhook {}: gave up after {} attempt{}: {}", shown, attempts, attempts == 1 ? "" : "s",
               attempt.description);
      return WebhookResult::gave_up;
    }
    const auto delay = backoff_before_retry(attempt_idx, options);
    log.warn("webhook {}: attempt {}/{}: {}; retrying in {}", shown, attempt_idx, attempts,
             attempt.description,
             delay < std::chrono::seconds(1) ? fmt::format("{} ms", delay.count())
                                             : fmt::format("{:.1f} s", delay.count() / 1000.0));
    if (!wait_unless_stopped(delay, stop)) {
      log.info("webhook {}: stopped while waiting to retry after attempt {}/{}; not delivered", shown,
               attempt_idx, attempts);
      return WebhookResult::stopped;
    }
  }
  return WebhookResult::gave_up;  // not reached: the loop returns on its last attempt
}

std::optional<std::string> webhook_url_problem(std::string_view url) {
  const std::string name(kField);
  const std::string quoted = "\"" + redacted_url(url) + "\"";
  if (url.empty()) return name + " is empty: give the http:// or https:// URL the result should be POSTed to";
  if (std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
    return name + " " + quoted +
           " contains white space or a control character: remove it, or percent-encode it (a space is %20)";
  }
  const auto separator = url.find("://");
  const std::string lower = lowercase(url);
  if (separator == std::string_view::npos) {
    if (lower.starts_with("http:") || lower.starts_with("https:")) {
      return name + " " + quoted + " is not a valid URL: write it as https://host/path";
    }
    return name + " " + quoted +
           " is not an absolute URL: give the http:// or https:// URL the result should be POSTed to, such "
           "as "
           "https://example.com/hooks/avtrain";
  }
  const std::string scheme = lower.substr(0, separator);
  if (scheme != "http" && scheme != "https") {
    return name + " " + quoted + " uses the scheme " + std::string(url.substr(0, separator)) +
           "://, and webhooks are delivered over http:// or https:// only: give an http(s) URL";
  }
  std::string_view authority = url.substr(separator + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  const std::string_view host = authority.starts_with("[") ? authority.substr(0, authority.find(']') + 1)
                                                           : authority.substr(0, authority.find(':'));
  if (host.empty() || host == "[]") {
    return name + " " + quoted + " has no host: write it as " + scheme + "://host/path";
  }
  // libcurl sends it, so libcurl's parser has the last word (bad ports, broken IPv6 literals, ...).
  const CurlUrlPtr handle(curl_url());
  if (!handle) return std::nullopt;  // out of memory: deliver_webhook reports what libcurl says
  const std::string text(url);
  if (const CURLUcode code = curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0); code != CURLUE_OK) {
    return name + " " + quoted + " is not a valid URL (" + curl_url_strerror(code) +
           "): write it as https://host[:port]/path, percent-encoding special characters";
  }
  return std::nullopt;
}

}  // namespace avtrain::service
