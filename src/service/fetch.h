#pragma once
// Fetching a request's file (training_data_url, validation references): local files and file://
// URLs under a LocalFilePolicy, http(s) through libcurl with a size cap, timeouts, retries with
// backoff and capped redirects (MISSION.md "Dataset", DECISIONS.md §21).
//
// A failed download is core::DownloadFailed (exit code 3, billed 0); a location the policy refuses
// is core::InvalidInput naming the field; a cancelled Progress ends it with core::Cancelled.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "service/request/resource_location.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::service {

inline constexpr uint64_t kDefaultMaxDownloadBytes = uint64_t{20} << 30;  // 20 GiB

struct FetchOptions {
  // Downloads larger than this are refused: before any byte when the server announces the size,
  // else as soon as the body passes it.
  uint64_t max_bytes = kDefaultMaxDownloadBytes;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds total_timeout{std::chrono::hours(2)};  // per attempt
  // An attempt that moves fewer than 1 KiB/s for this long counts as timed out.
  std::chrono::milliseconds stall_timeout{std::chrono::seconds(120)};
  // Retries after an HTTP 5xx or 429, a timeout or a dropped connection; retry k waits
  // retry_backoff * 2^(k-1). Other failures (4xx, refused destination, oversize) are final.
  int max_retries = 3;
  std::chrono::milliseconds retry_backoff{std::chrono::seconds(2)};
  int max_redirects = 5;
  // DECISIONS.md §21: the server refuses loopback, private, link-local (and other non-public)
  // destinations, checked on the address each connection goes to. The CLI allows them.
  bool allow_private_destinations = false;
  LocalFilePolicy local_files = LocalFilePolicy::allow_any();
  // The request field the location came from, for messages and 422 locations.
  std::string field = "training_data_url";
  // The server's own upload URLs (service/uploads.h): the stored file, read in place instead of
  // downloaded (nullopt: not one of them). It throws core::InvalidInput when the upload is not the
  // requesting key's. Unset in the CLI.
  std::function<std::optional<std::filesystem::path>(std::string_view url, std::string_view field)>
      own_upload;
  // Called once the server announces the download's size: a message ends the download at once (it is
  // thrown as core::InternalError), e.g. that the disk cannot hold it (service/disk_space.h).
  std::function<std::optional<std::string>(uint64_t announced_bytes)> size_check;
};

struct FetchedFile {
  std::filesystem::path path;  // the local file itself, or `destination` after a download
  uint64_t bytes = 0;
  bool downloaded = false;  // false for a local file (read in place, not copied)
  int attempts = 0;         // HTTP attempts made (0 for a local file)
};

// Fetches `location`: a local path or file:// URL is checked (policy, exists, regular file) and used
// in place; an http(s) URL is downloaded to `destination` (through `destination`.part, renamed once
// complete; its folder is created). Progress, when given, receives the byte fraction and is checked
// for cancellation.
FetchedFile fetch(std::string_view location, const std::filesystem::path& destination,
                  const FetchOptions& options, core::Progress* progress = nullptr);

// `url` without its query, fragment and user information, for messages and logs: signed URLs
// carry credentials there.
std::string redacted_url(std::string_view url);
// The file name a location shows a user: the last path component of the (redacted) URL or path
// without its query; "archive.zip" when it has none.
std::string archive_file_name(const std::string& location);

}  // namespace avtrain::service
