#pragma once
// The one error family of avtrain (DESIGN.md "Errors"). Torch-free: media, dataset and service use it.
//
// A message names what is at fault (field, file, key, URL), what was found, why it is wrong and what
// to do. Invalid input and dataset rejections carry pydantic-style problems that become a 422 body.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace avtrain::core {

enum class ErrorKind { invalid_input, dataset_rejected, download_failed, cancelled, internal };

// One entry of a 422 body: {"loc": [...], "msg": ..., "type": ...}.
struct Problem {
  std::vector<std::string> loc;
  std::string msg;
  std::string type = "value_error";
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message);
  Error(ErrorKind kind, std::vector<Problem> problems);  // what() joins every problem's msg

  ErrorKind kind() const { return kind_; }
  const std::vector<Problem>& problems() const { return problems_; }
  // HTTP status a service answers with: 422 for invalid input and dataset rejections, 499 for a
  // cancelled job, 502 for download failures, 500 otherwise.
  int http_status() const;
  // Exit code of an avtrain command (DECISIONS.md §31): 2 invalid/dataset, 3 download, 4 cancelled, 1 other.
  int exit_code() const;
  // {"detail":[{"loc":[...],"msg":...,"type":...}]}; an error without problems gets one entry whose
  // loc is ["body"] and whose type names the kind.
  std::string detail_json() const;

 private:
  ErrorKind kind_;
  std::vector<Problem> problems_;
};

class InvalidInput : public Error {
 public:
  explicit InvalidInput(std::vector<Problem> problems) : Error(ErrorKind::invalid_input, std::move(problems)) {}
  explicit InvalidInput(std::string message) : Error(ErrorKind::invalid_input, std::move(message)) {}
};
class DatasetRejected : public Error {
 public:
  explicit DatasetRejected(std::vector<Problem> problems)
      : Error(ErrorKind::dataset_rejected, std::move(problems)) {}
  explicit DatasetRejected(std::string message) : Error(ErrorKind::dataset_rejected, std::move(message)) {}
};
class DownloadFailed : public Error {
 public:
  explicit DownloadFailed(std::string message) : Error(ErrorKind::download_failed, std::move(message)) {}
};
class Cancelled : public Error {
 public:
  explicit Cancelled(std::string message) : Error(ErrorKind::cancelled, std::move(message)) {}
};
class InternalError : public Error {
 public:
  explicit InternalError(std::string message) : Error(ErrorKind::internal, std::move(message)) {}
};

std::string_view to_string(ErrorKind kind);

}  // namespace avtrain::core
