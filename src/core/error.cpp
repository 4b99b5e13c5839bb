#include "core/error.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/json_text.h"

namespace avtrain::core {
namespace {

std::string join_messages(const std::vector<Problem>& problems) {
  std::string joined;
  for (const auto& problem : problems) {
    if (!joined.empty()) joined += "\n";
    joined += problem.msg;
  }
  return joined;
}

// pydantic writes list positions in `loc` as numbers: ["body", "validation", 0, "prompt"].
nlohmann::json loc_json(const std::vector<std::string>& loc) {
  auto parts = nlohmann::json::array();
  for (const auto& part : loc) {
    const bool index = !part.empty() && part.size() < 10 &&
                       std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (index) {
      parts.push_back(std::stoll(part));
    } else {
      parts.push_back(part);
    }
  }
  return parts;
}

}  // namespace

Error::Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}

Error::Error(ErrorKind kind, std::vector<Problem> problems)
    : std::runtime_error(join_messages(problems)), kind_(kind), problems_(std::move(problems)) {}

int Error::http_status() const {
  switch (kind_) {
    case ErrorKind::invalid_input:
    case ErrorKind::dataset_rejected:
      return 422;
    case ErrorKind::download_failed:
      return 502;
    case ErrorKind::cancelled:
      return 499;
    case ErrorKind::internal:
      return 500;
  }
  return 500;
}

int Error::exit_code() const {
  switch (kind_) {
    case ErrorKind::invalid_input:
    case ErrorKind::dataset_rejected:
      return 2;
    case ErrorKind::download_failed:
      return 3;
    case ErrorKind::cancelled:
      return 4;
    case ErrorKind::internal:
      return 1;
  }
  return 1;
}

std::string Error::detail_json() const {
  auto detail = nlohmann::json::array();
  if (problems_.empty()) {
    detail.push_back({{"loc", {"body"}}, {"msg", what()}, {"type", std::string(to_string(kind_))}});
  }
  for (const auto& problem : problems_) {
    detail.push_back({{"loc", loc_json(problem.loc)}, {"msg", problem.msg}, {"type", problem.type}});
  }
  return json_text(nlohmann::json{{"detail", detail}});
}

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_input:
      return "invalid_input";
    case ErrorKind::dataset_rejected:
      return "dataset_rejected";
    case ErrorKind::download_failed:
      return "download_failed";
    case ErrorKind::cancelled:
      return "cancelled";
    case ErrorKind::internal:
      return "internal_error";
  }
  return "internal_error";
}

}  // namespace avtrain::core
