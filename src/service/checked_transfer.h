#pragma once
// libcurl transfers of the server's outgoing HTTP (downloads and webhooks), set up one way: http and
// https only, no proxy (it would hide the destination), no signals, and every connection's resolved
// address checked against DECISIONS.md §21 (loopback, private, link-local and other non-public
// destinations refused unless allowed): the one place where a name that resolves to an internal
// address can be stopped, the first connection and each redirect's alike.
#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string>

namespace avtrain::service {

struct CurlEasyCleanup {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using CurlPtr = std::unique_ptr<CURL, CurlEasyCleanup>;

// What the address check allows, and why it refused a connection. Must outlive its transfer.
struct DestinationGuard {
  bool allow_private_destinations = false;
  // Completes "this server ... public addresses": "downloads only from", "delivers webhooks only to".
  std::string activity;
  std::optional<std::string> refused;  // set when a connection was refused: the reason, as a clause
};

// A transfer of `url` with the common options above and `guard` checking every connection.
// Throws core::InternalError when libcurl cannot start one.
CurlPtr new_checked_transfer(const std::string& url, DestinationGuard& guard);

}  // namespace avtrain::service
