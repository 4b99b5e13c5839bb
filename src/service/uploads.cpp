#include "service/uploads.h"

#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/byte_text.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"
#include "service/digest.h"
#include "service/job_store.h"
#include "service/request/field_reader.h"
#include "service/request/resource_location.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

constexpr int kMaxParts = 10000;  // as S3-style multipart stores allow
constexpr size_t kMaxFileNameBytes = 200;

spdlog::logger& log() { return core::logger("service"); }

UploadAnswer answer(int status, const ordered_json& body) { return {status, core::json_text(body)}; }
UploadAnswer problem(int status, const std::string& message) {
  return answer(status, ordered_json{{"detail", message}});
}

// One path component a file system and a URL take: the client's name without folders or control
// characters, at most kMaxFileNameBytes; "upload.bin" when nothing is left.
std::string sanitized_file_name(std::string_view name) {
  const auto slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string clean;
  for (const unsigned char c : name) {
    if (c >= 0x20 && c != 0x7f) clean += static_cast<char>(c);
  }
  while (!clean.empty() && (clean.front() == '.' || clean.front() == ' ')) clean.erase(0, 1);
  if (clean.size() > kMaxFileNameBytes)
    clean.erase(0, clean.size() - kMaxFileNameBytes);  // keep the extension
  return clean.empty() ? "upload.bin" : clean;
}

// Streams a request body into `destination` through a temporary file, at most `max_bytes`; the
// file appears whole or not at all. `digest`, when given, receives every byte.
struct StreamedBody {
  bool ok = false;
  bool too_large = false;
  std::string failure;  // a disk error, for the 507/500 answer
  uint64_t bytes = 0;
};

StreamedBody stream_to_file(const BodyReader& read_body, const fs::path& destination, uint64_t max_bytes,
                            crypto_hash_sha256_state* digest) {
  StreamedBody result;
  const fs::path temporary = destination.string() + ".part-" + random_token().substr(0, 8);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) {
      result.failure = std::strerror(errno);
      return result;
    }
    const bool read = read_body([&](const char* data, size_t size) {
      if (result.bytes + size > max_bytes) {
        result.too_large = true;
        return false;
      }
      out.write(data, static_cast<std::streamsize>(size));
      if (!out) {
        result.failure = std::strerror(errno);
        return false;
      }
      if (digest) crypto_hash_sha256_update(digest, reinterpret_cast<const unsigned char*>(data), size);
      result.bytes += size;
      return true;
    });
    out.flush();
    if (read && !out) result.failure = std::strerror(errno);
    result.ok = read && out && !result.too_large && result.failure.empty();
    if (!read && !result.too_large && result.failure.empty()) result.failure = "the connection ended early";
  }
  std::error_code error;
  if (result.ok) {
    fs::rename(temporary, destination, error);
    if (error) {
      result.ok = false;
      result.failure = error.message();
    }
  }
  if (!result.ok) fs::remove(temporary, error);
  return result;
}

UploadAnswer body_failure(const StreamedBody& streamed, uint64_t max_bytes, std::string_view what) {
  if (streamed.too_large) {
    return problem(413, fmt::format("{} is larger than this server's upload limit of {} (--max-upload-size)",
                                    what, core::byte_text(max_bytes)));
  }
  if (streamed.failure == "the connection ended early") {
    return problem(400, fmt::format("{} was not received whole ({}): send it again", what, streamed.failure));
  }
  return problem(
      507, fmt::format("{} could not be stored ({}): the server's disk may be full; try again later", what,
                       streamed.failure));
}

fs::path part_file(const fs::path& upload_dir, int part_number) {
  return upload_dir / "parts" / std::to_string(part_number);
}
fs::path part_tag_file(const fs::path& upload_dir, int part_number) {
  return upload_dir / "parts" / (std::to_string(part_number) + ".etag");
}

std::string read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

}  // namespace

Uploads::Uploads(JobStore& store, UploadSettings settings) : store_(store), settings_(std::move(settings)) {
  fs::create_directories(settings_.dir);
}

UploadAnswer Uploads::initiate(const std::string& owner, std::string_view request_body, bool multipart) {
  json body;
  try {
    body = request_body.empty() ? json::object() : json::parse(request_body);
  } catch (const json::exception&) {
    return answer(
        422,
        ordered_json{{"detail",
                      {{{"loc", {"body"}},
                        {"msg", "the body is not JSON: send {\"content_type\": ..., \"file_name\": ...}"},
                        {"type", "json_invalid"}}}}});
  }
  if (!body.is_object()) {
    return answer(
        422,
        ordered_json{{"detail",
                      {{{"loc", {"body"}},
                        {"msg", "the body must be an object {\"content_type\": ..., \"file_name\": ...}"},
                        {"type", "model_attributes_type"}}}}});
  }
  const auto text_field = [&](const char* name, const char* fallback) -> std::optional<std::string> {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) return std::string(fallback);
    if (!it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const auto file_name = text_field("file_name", "upload.bin");
  const auto content_type = text_field("content_type", "application/octet-stream");
  if (!file_name || !content_type) {
    const char* field = !file_name ? "file_name" : "content_type";
    return answer(422, ordered_json{{"detail",
                                     {{{"loc", {"body", field}},
                                       {"msg", fmt::format("{} must be a string", field)},
                                       {"type", "string_type"}}}}});
  }
  StoredUpload upload;
  upload.id = random_token();
  upload.upload_token = random_token();
  upload.owner = owner;
  upload.file_name = sanitized_file_name(*file_name);
  upload.content_type = content_type->empty() ? "application/octet-stream" : *content_type;
  upload.multipart = multipart;
  upload.created_ms = now_ms();
  fs::create_directories(settings_.dir / upload.id);
  store_.add_upload(upload);
  log().info("upload {} of {} started ({}{})", upload.id, upload.file_name, upload.content_type,
             multipart ? ", multipart" : "");
  return answer(200,
                ordered_json{{"upload_url", settings_.public_url + "/storage/upload/" + upload.upload_token},
                             {"file_url", settings_.public_url + "/files/" + upload.id + "/" +
                                              url_path_segment(upload.file_name)}});
}

UploadAnswer Uploads::write_file(std::string_view upload_token, const BodyReader& read_body) {
  const auto upload = store_.upload_by_token(upload_token);
  if (!upload) return problem(404, "Unknown upload URL: start an upload with POST /storage/upload/initiate");
  if (upload->multipart) {
    return problem(409,
                   "this is a multipart upload: PUT each part to the upload URL + \"/<part number>\", then "
                   "POST the upload URL + \"/complete\"");
  }
  if (upload->complete)
    return problem(409, "this upload is complete already: start a new one to send another file");
  const auto streamed = stream_to_file(read_body, file_path(*upload), settings_.max_bytes, nullptr);
  if (!streamed.ok) return body_failure(streamed, settings_.max_bytes, "the file");
  store_.complete_upload(upload->id, streamed.bytes);
  log().info("upload {} complete: {} ({} bytes)", upload->id, upload->file_name, streamed.bytes);
  return answer(200, ordered_json::object());
}

UploadAnswer Uploads::write_part(std::string_view upload_token, int part_number,
                                 const BodyReader& read_body) {
  const auto upload = store_.upload_by_token(upload_token);
  if (!upload)
    return problem(404, "Unknown upload URL: start an upload with POST /storage/upload/initiate-multipart");
  if (!upload->multipart)
    return problem(409, "this is a single-part upload: PUT the whole file to the upload URL");
  if (upload->complete)
    return problem(409, "this upload is complete already: start a new one to send another file");
  if (part_number < 1 || part_number > kMaxParts) {
    return problem(400, fmt::format("part number {} is out of range: parts are numbered 1 to {}", part_number,
                                    kMaxParts));
  }
  const fs::path upload_dir = settings_.dir / upload->id;
  fs::create_directories(upload_dir / "parts");
  crypto_hash_sha256_state digest;
  crypto_hash_sha256_init(&digest);
  const auto streamed =
      stream_to_file(read_body, part_file(upload_dir, part_number), settings_.max_bytes, &digest);
  if (!streamed.ok) return body_failure(streamed, settings_.max_bytes, fmt::format("part {}", part_number));
  uint8_t hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&digest, hash);
  const std::string etag = hex(std::span<const uint8_t>(hash, 16));
  std::ofstream(part_tag_file(upload_dir, part_number), std::ios::binary | std::ios::trunc) << etag;
  return answer(200, ordered_json{{"partNumber", part_number}, {"etag", etag}});
}

UploadAnswer Uploads::complete(std::string_view upload_token, std::string_view request_body) {
  const auto upload = store_.upload_by_token(upload_token);
  if (!upload)
    return problem(404, "Unknown upload URL: start an upload with POST /storage/upload/initiate-multipart");
  if (!upload->multipart)
    return problem(409, "this is a single-part upload: PUT the whole file to the upload URL");
  if (upload->complete) return answer(200, ordered_json::object());  // a retried complete: done already
  std::vector<std::pair<int, std::string>> parts;
  try {
    const json listed = json::parse(request_body);
    for (const auto& part : listed.at("parts")) {
      parts.emplace_back(part.at("partNumber").get<int>(), part.at("etag").get<std::string>());
    }
  } catch (const json::exception&) {
    return problem(
        422,
        "the body must be {\"parts\": [{\"partNumber\": 1, \"etag\": \"...\"}, ...]} listing every "
        "part with the etag its PUT answered");
  }
  std::sort(parts.begin(), parts.end());
  const fs::path upload_dir = settings_.dir / upload->id;
  uint64_t total = 0;
  for (size_t idx = 0; idx < parts.size(); ++idx) {
    const auto& [number, etag] = parts[idx];
    if (number != static_cast<int>(idx) + 1) {
      return problem(400,
                     fmt::format("the parts must be numbered 1, 2, 3, ... without gaps or repeats: part {} "
                                 "is missing or listed twice",
                                 idx + 1));
    }
    std::error_code error;
    const auto size = fs::file_size(part_file(upload_dir, number), error);
    if (error) return problem(400, fmt::format("part {} was never uploaded: PUT it first", number));
    if (read_small_file(part_tag_file(upload_dir, number)) != etag) {
      return problem(400, fmt::format("part {} has another etag than the one listed: upload it again or list "
                                      "the etag its last PUT answered",
                                      number));
    }
    total += size;
  }
  if (parts.empty()) return problem(400, "no part listed: PUT the parts, then list them here");
  if (total > settings_.max_bytes) {
    return problem(413, fmt::format("the parts add up to {}, above this server's upload limit of {} "
                                    "(--max-upload-size)",
                                    core::byte_text(total), core::byte_text(settings_.max_bytes)));
  }
  // Joined through a temporary file, so the upload is whole or absent.
  const fs::path joined = file_path(*upload).string() + ".joining";
  {
    std::ofstream out(joined, std::ios::binary | std::ios::trunc);
    for (const auto& [number, etag] : parts) {
      std::ifstream in(part_file(upload_dir, number), std::ios::binary);
      out << in.rdbuf();
    }
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(joined, ignored);
      return problem(507, "the parts could not be joined (the server's disk may be full): try again later");
    }
  }
  fs::rename(joined, file_path(*upload));
  std::error_code ignored;
  fs::remove_all(upload_dir / "parts", ignored);
  store_.complete_upload(upload->id, total);
  log().info("upload {} complete: {} ({} bytes in {} parts)", upload->id, upload->file_name, total,
             parts.size());
  return answer(200, ordered_json{{"file_url", settings_.public_url + "/files/" + upload->id + "/" +
                                                   url_path_segment(upload->file_name)}});
}

void Uploads::remove(const StoredUpload& upload) const {
  std::error_code ignored;
  fs::remove_all(settings_.dir / upload.id, ignored);
  store_.delete_upload(upload.id);
}

std::optional<StoredUpload> Uploads::completed(std::string_view id) const {
  auto upload = store_.upload(id);
  if (!upload || !upload->complete) return std::nullopt;
  return upload;
}

fs::path Uploads::file_path(const StoredUpload& upload) const {
  return settings_.dir / upload.id / upload.file_name;
}

bool Uploads::is_upload_url(std::string_view url) const {
  const std::string prefix = settings_.public_url + "/files/";
  return url.starts_with(prefix) && url.size() > prefix.size() + 32 && url[prefix.size() + 32] == '/';
}

fs::path Uploads::resolve(std::string_view url, std::string_view owner, std::string_view field) const {
  const auto refuse = [&](const std::string& why) -> fs::path {
    throw core::InvalidInput(
        {core::Problem{field_loc(field), std::string(field) + " " + why, "value_error"}});
  };
  const std::string prefix = settings_.public_url + "/files/";
  const std::string id(url.substr(prefix.size(), 32));
  const auto upload = store_.upload(id);
  if (!upload || upload->owner != owner) {
    return refuse(
        "names an upload of this server that this API key did not make: upload the file with the key "
        "that submits the request");
  }
  if (!upload->complete) {
    return refuse(
        "names an upload that is not complete: finish its PUT (or its parts and /complete) before "
        "submitting");
  }
  const std::string_view name_part = url.substr(prefix.size() + 33);
  const auto name = percent_decode(name_part.substr(0, name_part.find_first_of("?#")));
  if (!name || *name != upload->file_name) {
    return refuse("does not match its upload's file name \"" + upload->file_name +
                  "\": use the file_url the "
                  "upload answered");
  }
  return file_path(*upload);
}

uint64_t parse_byte_size(std::string_view text, std::string_view option) {
  const auto refuse = [&]() -> uint64_t {
    throw core::InvalidInput(
        fmt::format("{} {}: not a size; write bytes or a number with K, M, G or T (binary "
                    "units), e.g. 20GiB or 500M",
                    option, text));
  };
  std::string number;
  size_t pos = 0;
  while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) {
    number += text[pos++];
  }
  while (pos < text.size() && text[pos] == ' ') ++pos;
  std::string unit;
  for (; pos < text.size(); ++pos)
    unit += static_cast<char>(std::toupper(static_cast<unsigned char>(text[pos])));
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1) return refuse();
  const double value = std::stod(number);
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "K" || unit == "KB" || unit == "KIB") {
    shift = 10;
  } else if (unit == "M" || unit == "MB" || unit == "MIB") {
    shift = 20;
  } else if (unit == "G" || unit == "GB" || unit == "GIB") {
    shift = 30;
  } else if (unit == "T" || unit == "TB" || unit == "TIB") {
    shift = 40;
  } else {
    return refuse();
  }
  const double bytes = std::ldexp(value, shift);
  if (!(bytes >= 1) || bytes > 1.8e19) return refuse();
  return static_cast<uint64_t>(bytes);
}

}  // namespace avtrain::service
