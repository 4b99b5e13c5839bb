#pragma once
// Uploads through the official client's storage routes (DECISIONS.md §38, docs/api.md "Uploads"):
// `@fal-ai/client` uploads a Blob or File input itself before it submits, through
//   POST {rest}/storage/upload/initiate            {content_type, file_name} -> {upload_url, file_url}
//   PUT  upload_url                                 the bytes (single part, files up to 90 MiB)
// or, for larger files,
//   POST {rest}/storage/upload/initiate-multipart  -> {upload_url, file_url}
//   PUT  upload_url/{part}                         10 MiB parts, each answered {partNumber, etag}
//   POST upload_url/complete                       {parts: [{partNumber, etag}]}
// and puts file_url into the request. The server answers these itself (the clients' host rewrite
// sends {rest} to it like the queue's host): the bytes go to DATA/uploads/<id>/<file name>, capped
// at --max-upload-size, owned by the key that initiated them. upload_url is a capability (no key
// header: the client's PUTs send none); file_url is a capability URL like a result file's
// (/files/<id>/<name>). A request may name only its own key's completed uploads, and the server
// reads them from its store, never over HTTP, so neither --allow-local-files nor
// --allow-private-network is needed for them.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace avtrain::service {

class JobStore;

inline constexpr uint64_t kDefaultMaxUploadBytes = uint64_t{20} << 30;  // 20 GiB

struct UploadSettings {
  std::filesystem::path dir;  // DATA/uploads
  uint64_t max_bytes = kDefaultMaxUploadBytes;
  std::string public_url;  // base of upload_url and file_url
};

struct StoredUpload {
  std::string id;            // 32 hex digits: the file URL's token
  std::string upload_token;  // 32 hex digits: the upload URL's capability
  std::string owner;         // the initiating key's identity
  std::string file_name;     // sanitized: one path component
  std::string content_type;
  bool multipart = false;
  bool complete = false;
  uint64_t bytes = 0;
  int64_t created_ms = 0;
};

// What an upload route answers: the HTTP status and a JSON body.
struct UploadAnswer {
  int status = 200;
  std::string body;  // JSON
};

// Receives a request body in chunks (cpp-httplib's content reader): the callback gets each chunk and
// returns false to stop reading.
using BodyReader = std::function<bool(const std::function<bool(const char* data, size_t size)>& chunk)>;

class Uploads {
 public:
  Uploads(JobStore& store, UploadSettings settings);

  const UploadSettings& settings() const { return settings_; }

  // POST .../initiate and .../initiate-multipart: a new upload of `owner`. `request_body` is the
  // client's JSON {content_type, file_name}; a body that is not that is a 422.
  UploadAnswer initiate(const std::string& owner, std::string_view request_body, bool multipart);
  // PUT upload_url: the whole file (single-part uploads).
  UploadAnswer write_file(std::string_view upload_token, const BodyReader& read_body);
  // PUT upload_url/{part}: one part of a multipart upload (1-based, at most 10,000).
  UploadAnswer write_part(std::string_view upload_token, int part_number, const BodyReader& read_body);
  // POST upload_url/complete: joins the listed parts, in order, into the file.
  UploadAnswer complete(std::string_view upload_token, std::string_view request_body);

  // Deletes an upload's files and its record (retention).
  void remove(const StoredUpload& upload) const;

  // A completed upload's stored file by its file URL's token (GET /files/<id>/<name>).
  std::optional<StoredUpload> completed(std::string_view id) const;
  std::filesystem::path file_path(const StoredUpload& upload) const;

  // Whether `url` is one of this server's upload URLs (public_url + "/files/<id>/<name>").
  bool is_upload_url(std::string_view url) const;
  // The stored file of upload URL `url` for a request of `owner`; throws core::InvalidInput with loc
  // `field` ("training_data_url", "validation[0].reference_video_url") when it is not `owner`'s
  // completed upload, saying what to do.
  std::filesystem::path resolve(std::string_view url, std::string_view owner, std::string_view field) const;

 private:
  JobStore& store_;
  UploadSettings settings_;
};

// "20GiB", "100 MiB", "5000000", "1.5G" -> bytes (binary units; K, M, G, T with or without "iB"/"B").
// Throws core::InvalidInput naming `option` when the text is not a size.
uint64_t parse_byte_size(std::string_view text, std::string_view option);

}  // namespace avtrain::service
