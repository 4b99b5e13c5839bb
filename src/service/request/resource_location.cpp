#include "service/request/resource_location.h"

#include <algorithm>
#include <cctype>
#include <system_error>

#include "core/utf8.h"
#include "service/request/field_reader.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower;
}

bool is_scheme(std::string_view text) {  // RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  if (text.empty() || !std::isalpha(static_cast<unsigned char>(text.front()))) return false;
  return std::all_of(text.begin(), text.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '-' || c == '.'; });
}

// An absolute, canonical form: symlinks and ".." resolved for the part that exists, the rest
// normalized lexically; no trailing separator.
fs::path resolved(const fs::path& path) {
  fs::path result = fs::weakly_canonical(fs::absolute(path)).lexically_normal();
  if (result.has_relative_path() && result.filename().empty()) result = result.parent_path();
  return result;
}

bool is_within(const fs::path& path, const fs::path& root) {
  auto path_it = path.begin();
  for (auto root_it = root.begin(); root_it != root.end(); ++root_it, ++path_it) {
    if (root_it->empty()) continue;  // a trailing separator's empty element
    if (path_it == path.end() || *path_it != *root_it) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string decoded;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (text[pos] != '%') {
      decoded += text[pos];
      continue;
    }
    if (pos + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[pos + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(text[pos + 2]))) {
      return std::nullopt;
    }
    decoded += static_cast<char>(std::stoi(std::string(text.substr(pos + 1, 2)), nullptr, 16));
    pos += 2;
  }
  return decoded;
}

namespace {

std::string accepted_forms(const LocalFilePolicy& policy) {
  return policy.allows_any() ? "an http:// or https:// URL, a file:// URL or a local path"
                             : "an http:// or https:// URL";
}

LocationCheck problem(std::string type, std::string msg) {
  return {std::nullopt, std::move(type), std::move(msg)};
}

}  // namespace

LocalFilePolicy LocalFilePolicy::allow_any() { return {Mode::any, {}}; }

LocalFilePolicy LocalFilePolicy::allow_under(fs::path root) {
  std::error_code error;
  fs::path canonical = fs::weakly_canonical(fs::absolute(root), error);
  if (error) canonical = fs::absolute(root).lexically_normal();
  if (canonical.has_relative_path() && canonical.filename().empty()) canonical = canonical.parent_path();
  return {Mode::under_root, canonical};
}

LocalFilePolicy LocalFilePolicy::refuse_all() { return {Mode::none, {}}; }

std::string LocalFilePolicy::refusal(const fs::path& path) const {
  switch (mode_) {
    case Mode::any:
      return {};
    case Mode::none:
      return "this server reads no local files (its operator did not name a directory with "
             "--allow-local-files): give an http:// or https:// URL";
    case Mode::under_root:
      break;
  }
  fs::path absolute_path;
  try {
    absolute_path = resolved(path);
  } catch (const fs::filesystem_error& error) {
    return "cannot resolve the local path " + path.string() + " (" + error.code().message() +
           "): give an http:// or https:// URL or a file under " + root_.string();
  }
  if (is_within(absolute_path, root_)) return {};
  return "this server reads local files only under " + root_.string() + ", and " + absolute_path.string() +
         " is outside it: move the file there or give an http:// or https:// URL";
}

LocationCheck check_location(std::string_view text, std::string_view field, const LocalFilePolicy& policy) {
  const std::string name(field);
  if (text.empty()) return problem("value_error", name + " is empty: give " + accepted_forms(policy));
  if (const auto problem_text = core::text_problem(text)) {
    return problem("value_error",
                   name + " " + *problem_text + ": remove it, or percent-encode it (a space is %20)");
  }
  if (std::isspace(static_cast<unsigned char>(text.front())) ||
      std::isspace(static_cast<unsigned char>(text.back()))) {
    return problem("value_error",
                   name + " \"" + std::string(text) + "\" starts or ends with white space: remove it");
  }
  const auto separator = text.find("://");
  const std::string lower = lowercase(text);
  if (separator == std::string_view::npos || !is_scheme(text.substr(0, separator))) {
    if (lower.starts_with("http:") || lower.starts_with("https:")) {
      return problem("url_parsing",
                     name + " \"" + std::string(text) +
                         "\" is not a valid URL: write it as http://host/path or https://host/path");
    }
    if (lower.starts_with("file:")) {
      return problem("url_parsing",
                     name + " \"" + std::string(text) +
                         "\" is not a valid file URL: write file:///absolute/path or a plain path");
    }
    ResourceLocation location{LocationKind::local_file, std::string(text), fs::path(text)};
    if (auto refusal = policy.refusal(location.path); !refusal.empty()) {
      return problem("value_error", name + " \"" + std::string(text) + "\" is a local file, but " + refusal);
    }
    return {std::move(location), {}, {}};
  }
  const std::string scheme = lowercase(text.substr(0, separator));
  const std::string_view rest = text.substr(separator + 3);
  if (scheme == "http" || scheme == "https") {
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
    const std::string_view host = authority.starts_with("[") ? authority.substr(0, authority.find(']') + 1)
                                                             : authority.substr(0, authority.find(':'));
    if (host.empty() || host == "[]") {
      return problem("url_parsing", name + " \"" + std::string(text) + "\" has no host: write it as " +
                                        scheme + "://host/path");
    }
    return {
        ResourceLocation{scheme == "http" ? LocationKind::http : LocationKind::https, std::string(text), {}},
        {},
        {}};
  }
  if (scheme == "file") {
    std::string_view path_part = rest;
    if (!path_part.starts_with("/")) {
      const auto slash = path_part.find('/');
      const std::string host = lowercase(path_part.substr(0, slash));
      if (host != "localhost" || slash == std::string_view::npos) {
        return problem("url_parsing", name + " \"" + std::string(text) +
                                          "\" names a file on another machine: write file:///absolute/path "
                                          "(three slashes) or a plain local path");
      }
      path_part.remove_prefix(slash);
    }
    const auto decoded = percent_decode(path_part);
    if (!decoded) {
      return problem("url_parsing",
                     name + " \"" + std::string(text) +
                         "\" has a broken %-escape: write %XX with two hex digits, or a plain path");
    }
    if (const auto problem_text = core::text_problem(*decoded)) {
      return problem("value_error", name + " decodes to a path that " + *problem_text +
                                        ": name a file whose path is UTF-8 text without control characters");
    }
    if (*decoded == "/") {
      return problem("url_parsing",
                     name + " \"" + std::string(text) + "\" names no file: write file:///absolute/path");
    }
    ResourceLocation location{LocationKind::local_file, std::string(text), fs::path(*decoded)};
    if (auto refusal = policy.refusal(location.path); !refusal.empty()) {
      return problem("value_error", name + " \"" + std::string(text) + "\" is a local file, but " + refusal);
    }
    return {std::move(location), {}, {}};
  }
  return problem("url_scheme", name + " \"" + std::string(text) + "\" uses the scheme " + scheme +
                                   "://, which avtrain cannot fetch: give " + accepted_forms(policy));
}

namespace {

// `text` with every byte percent-encoded but the unreserved characters (RFC 3986 §2.3) and `keep`.
std::string percent_encode(std::string_view text, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        keep.find(c) != std::string_view::npos) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  return encoded;
}

}  // namespace

std::string file_url(const std::filesystem::path& path) {
  return "file://" + percent_encode(std::filesystem::absolute(path).lexically_normal().string(), "/");
}

std::string url_path_segment(std::string_view text) { return percent_encode(text, ""); }

void check_location_field(FieldReader& reader, std::string_view name, const std::string& url,
                          const LocalFilePolicy& policy) {
  const auto check = check_location(url, reader.label_of(name), policy);
  if (!check.location) reader.add_problem(name, check.type, check.msg);
}

}  // namespace avtrain::service
