#pragma once
// Where a request's media lives (training_data_url, validation reference URLs) and whether local
// files may be read (MISSION.md "Dataset", DECISIONS.md §21).
//
// Accepted forms: http:// and https:// URLs; file:// URLs (file:///abs/path or file://localhost/abs/path,
// percent-escapes decoded) and plain paths, which are local files. Schemes are case-insensitive.
// Which local files may be read is the caller's LocalFilePolicy: the CLI reads any, the server only
// files under the directory its operator names (--allow-local-files DIR), or none.
// Refusing loopback, private and link-local HTTP destinations needs the resolved address, so the
// downloader does that; this file only classifies and applies the local-file policy.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace avtrain::service {

class FieldReader;

class LocalFilePolicy {
 public:
  static LocalFilePolicy allow_any();                              // the CLI
  static LocalFilePolicy allow_under(std::filesystem::path root);  // the server with --allow-local-files DIR
  static LocalFilePolicy refuse_all();                             // the server without it

  // Empty when `path` may be read; otherwise why not and what to do. `path` is made absolute
  // (against the working directory) and canonical (symlinks and ".." resolved as far as they
  // exist) before it is compared with the allowed directory, so "DIR/../etc/passwd" is refused.
  std::string refusal(const std::filesystem::path& path) const;
  bool allows_any() const { return mode_ == Mode::any; }

 private:
  enum class Mode { any, under_root, none };
  LocalFilePolicy(Mode mode, std::filesystem::path root) : mode_(mode), root_(std::move(root)) {}
  Mode mode_;
  std::filesystem::path root_;  // canonical, for under_root
};

enum class LocationKind { http, https, local_file };

struct ResourceLocation {
  LocationKind kind = LocationKind::http;
  std::string url;             // as given
  std::filesystem::path path;  // local_file only: the decoded path (relative paths stay relative)
};

// A location, or a problem: `type` is a pydantic-style type ("url_scheme", "url_parsing",
// "value_error") and `msg` says what is wrong and what to write instead; `field` names the field
// in messages ("training_data_url", "validation[0].reference_video_url").
struct LocationCheck {
  std::optional<ResourceLocation> location;
  std::string type;
  std::string msg;
};
LocationCheck check_location(std::string_view text, std::string_view field, const LocalFilePolicy& policy);
// check_location on the request field `name` that `reader` read as `url`: its problem, if any, recorded at
// the field (the training request's and the try-it request's locations).
void check_location_field(FieldReader& reader, std::string_view name, const std::string& url,
                          const LocalFilePolicy& policy);

// The file:// URL of `path` made absolute: everything but unreserved characters and '/'
// percent-encoded, so check_location reads back the same path (DECISIONS.md §30: the CLI's result URLs).
std::string file_url(const std::filesystem::path& path);
// One URL path segment: everything but unreserved characters percent-encoded ("a b.mp4" -> "a%20b.mp4").
std::string url_path_segment(std::string_view text);
// %XX escapes decoded; nullopt when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace avtrain::service
