#include "service/fetch.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include "core/byte_text.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "service/checked_transfer.h"
#include "service/request/field_reader.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// What one attempt ended with. `retryable` failures are tried again (up to max_retries).
struct Attempt {
  bool ok = false;
  bool retryable = false;
  std::string failure;  // the reason, as a clause: "the server answered HTTP 404 (Not Found)"
};

// State the libcurl callbacks share with the attempt.
struct Transfer {
  const FetchOptions* options = nullptr;
  core::Progress* progress = nullptr;
  std::FILE* file = nullptr;
  uint64_t received = 0;
  bool oversized = false;
  bool size_checked = false;
  std::optional<std::string> size_refused;  // what options->size_check said of the announced size
  bool write_failed = false;
  bool cancelled = false;
  DestinationGuard guard;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer.received + bytes > transfer.options->max_bytes) {
    transfer.oversized = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  if (std::fwrite(data, 1, bytes, transfer.file) != bytes) {
    transfer.write_failed = true;
    return 0;
  }
  transfer.received += bytes;
  return bytes;
}

int report_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto& transfer = *static_cast<Transfer*>(user);
  if (total > 0 && !transfer.size_checked && transfer.options->size_check) {
    transfer.size_checked = true;
    transfer.size_refused = transfer.options->size_check(static_cast<uint64_t>(total));
    if (transfer.size_refused) return 1;  // aborts with CURLE_ABORTED_BY_CALLBACK
  }
  if (!transfer.progress) return 0;
  if (transfer.progress->cancelled()) {
    transfer.cancelled = true;
    return 1;  // aborts with CURLE_ABORTED_BY_CALLBACK
  }
  if (total > 0 && now > 0) {
    transfer.progress->update(static_cast<double>(now) / static_cast<double>(total),
                              core::byte_text(now) + " of " + core::byte_text(total));
  }
  return 0;
}

std::string http_reason(long status) {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return {};
  }
}

Attempt attempt_download(const std::string& url, const fs::path& part, const FetchOptions& options,
                         core::Progress* progress) {
  FilePtr file(std::fopen(part.c_str(), "wb"));
  if (!file) {
    throw core::InternalError(fmt::format("cannot write the download to {}: {}", part.string(),
                                          std::error_code(errno, std::generic_category()).message()));
  }
  Transfer transfer{&options, progress, file.get()};
  transfer.guard = {options.allow_private_destinations, "downloads only from", std::nullopt};
  const CurlPtr curl = new_checked_transfer(url, transfer.guard);
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(options.max_redirects));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(options.stall_timeout.count() / 1000)));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, report_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);

  const CURLcode code = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (std::fflush(file.get()) != 0) transfer.write_failed = true;
  file.reset();

  if (transfer.cancelled) throw core::Cancelled("the download of " + redacted_url(url) + " was cancelled");
  if (transfer.size_refused) throw core::InternalError(*transfer.size_refused);
  if (transfer.guard.refused && code != CURLE_OK) return {false, false, *transfer.guard.refused};
  if (transfer.write_failed) {
    throw core::InternalError(
        fmt::format("cannot write the download (disk full?) after {}", core::byte_text(transfer.received)));
  }
  const std::string cap = core::byte_text(options.max_bytes);
  if (transfer.oversized || code == CURLE_FILESIZE_EXCEEDED) {
    return {
        false, false,
        fmt::format("the file is larger than the download limit of {}: send a smaller archive, or ask the "
                    "operator to raise the limit",
                    cap)};
  }
  const std::string detail = error_buffer[0] ? std::string(error_buffer) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OK:
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return {false, true,
              fmt::format("it timed out ({}) after {}", detail, core::byte_text(transfer.received))};
    case CURLE_TOO_MANY_REDIRECTS:
      return {false, false,
              fmt::format("it redirects more than {} times: give the final URL", options.max_redirects)};
    case CURLE_UNSUPPORTED_PROTOCOL:
      return {false, false,
              fmt::format("it leads to a scheme avtrain does not fetch ({}): give an http(s) URL", detail)};
    case CURLE_COULDNT_RESOLVE_HOST:
      return {false, false, fmt::format("its host name does not resolve ({}): check the URL", detail)};
    case CURLE_COULDNT_CONNECT:
      return {false, false, fmt::format("the server cannot be reached ({})", detail)};
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
      return {false, true,
              fmt::format("the connection broke ({}) after {}", detail, core::byte_text(transfer.received))};
    default:
      return {false, false, fmt::format("libcurl failed: {}", detail)};
  }
  if (status >= 200 && status < 300) return {true, false, {}};
  const std::string reason = http_reason(status);
  const std::string answered =
      fmt::format("the server answered HTTP {}{}", status, reason.empty() ? "" : " (" + reason + ")");
  if (status >= 500 || status == 429) return {false, true, answered};
  if (status == 401 || status == 403)
    return {false, false, answered + ": the URL needs to be public or signed"};
  if (status == 404 || status == 410)
    return {false, false, answered + ": check the URL (signed URLs expire)"};
  return {false, false, answered};
}

void sleep_unless_cancelled(std::chrono::milliseconds delay, core::Progress* progress,
                            const std::string& url) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (progress && progress->cancelled()) throw core::Cancelled("the download of " + url + " was cancelled");
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
  }
}

FetchedFile download(const ResourceLocation& location, const fs::path& destination,
                     const FetchOptions& options, core::Progress* progress) {
  auto& log = core::logger("service");
  const std::string shown = redacted_url(location.url);
  if (destination.has_parent_path()) fs::create_directories(destination.parent_path());
  fs::path part = destination;
  part += ".part";
  Attempt attempt;
  int attempts = 0;
  for (int try_idx = 0; try_idx <= options.max_retries; ++try_idx) {
    if (try_idx > 0) {
      const auto delay = options.retry_backoff * (int64_t{1} << (try_idx - 1));
      log.warn("{} {}: {}; retry {}/{} in {:.1f} s", options.field, shown, attempt.failure, try_idx,
               options.max_retries, delay.count() / 1000.0);
      sleep_unless_cancelled(delay, progress, shown);
    }
    ++attempts;
    try {
      attempt = attempt_download(location.url, part, options, progress);
    } catch (...) {
      std::error_code ignored;
      fs::remove(part, ignored);
      throw;
    }
    if (attempt.ok || !attempt.retryable) break;
  }
  if (!attempt.ok) {
    std::error_code ignored;
    fs::remove(part, ignored);
    const std::string tries = attempts > 1 ? fmt::format(" (after {} attempts)", attempts) : "";
    throw core::DownloadFailed(
        fmt::format("{}: cannot download {}: {}{}", options.field, shown, attempt.failure, tries));
  }
  fs::rename(part, destination);
  const uint64_t bytes = fs::file_size(destination);
  log.info("{}: downloaded {} ({}) in {} attempt{}", options.field, shown, core::byte_text(bytes), attempts,
           attempts == 1 ? "" : "s");
  return {destination, bytes, true, attempts};
}

FetchedFile open_local(const ResourceLocation& location, const FetchOptions& options) {
  std::error_code error;
  const auto status = fs::status(location.path, error);
  if (error || !fs::exists(status)) {
    throw core::DownloadFailed(fmt::format("{}: the local file {} does not exist: check the path",
                                           options.field, location.path.string()));
  }
  if (!fs::is_regular_file(status)) {
    throw core::DownloadFailed(fmt::format("{}: {} is not a regular file: give the path of the file itself",
                                           options.field, location.path.string()));
  }
  const uint64_t bytes = fs::file_size(location.path, error);
  if (error) {
    throw core::DownloadFailed(
        fmt::format("{}: cannot read {}: {}", options.field, location.path.string(), error.message()));
  }
  return {location.path, bytes, false, 0};
}

}  // namespace

std::string redacted_url(std::string_view url) {
  std::string_view shown = url.substr(0, url.find_first_of("?#"));
  const auto separator = shown.find("://");
  if (separator == std::string_view::npos) return std::string(shown);
  const auto authority_begin = separator + 3;
  const auto authority_end = shown.find('/', authority_begin);
  const auto authority = shown.substr(authority_begin, authority_end - authority_begin);
  std::string result(shown.substr(0, authority_begin));
  const auto at = authority.rfind('@');
  result += at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (authority_end != std::string_view::npos) result += shown.substr(authority_end);
  if (shown.size() < url.size() && url[shown.size()] == '?') result += "?...";
  return result;
}

FetchedFile fetch(std::string_view location_text, const fs::path& destination, const FetchOptions& options,
                  core::Progress* progress) {
  if (options.own_upload) {
    if (const auto stored = options.own_upload(location_text, options.field)) {
      return {*stored, fs::file_size(*stored), false, 0};
    }
  }
  const LocationCheck check = check_location(location_text, options.field, options.local_files);
  if (!check.location)
    throw core::InvalidInput({core::Problem{field_loc(options.field), check.msg, check.type}});
  if (check.location->kind == LocationKind::local_file) return open_local(*check.location, options);
  return download(*check.location, destination, options, progress);
}

std::string archive_file_name(const std::string& location) {
  const std::string shown = redacted_url(location);
  const std::string path = shown.substr(0, shown.find('?'));
  const auto slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.empty() ? "archive.zip" : name;
}

}  // namespace avtrain::service
