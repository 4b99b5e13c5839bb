#include "service/checked_transfer.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <mutex>

#include "core/error.h"
#include "service/network_address.h"

namespace avtrain::service {
namespace {

curl_socket_t open_checked_socket(void* user, curlsocktype, curl_sockaddr* address) {
  auto& guard = *static_cast<DestinationGuard*>(user);
  if (!guard.allow_private_destinations) {
    const auto scope = classify_address(address->addr);
    if (!scope || *scope != AddressScope::global) {
      guard.refused = fmt::format(
          "it leads to {}, a {} address, and this server {} public addresses (a guard against requests "
          "that reach its internal network): give a URL on the public internet",
          address_text(address->addr), scope ? to_string(*scope) : "non-IP", guard.activity);
      return CURL_SOCKET_BAD;
    }
  }
  return socket(address->family, address->socktype, address->protocol);
}

}  // namespace

CurlPtr new_checked_transfer(const std::string& url, DestinationGuard& guard) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CurlPtr curl(curl_easy_init());
  if (!curl) throw core::InternalError("libcurl could not start a transfer (curl_easy_init failed)");
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "avtrain");
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
  return curl;
}

}  // namespace avtrain::service
