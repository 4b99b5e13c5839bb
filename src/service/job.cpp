#include "service/job.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json_text.h"

namespace avtrain::service {

namespace fs = std::filesystem;

std::string_view to_string(JobStage stage) {
  switch (stage) {
    case JobStage::downloading:
      return "downloading";
    case JobStage::preprocessing:
      return "preprocessing";
    case JobStage::encoding:
      return "encoding";
    case JobStage::training:
      return "training";
    case JobStage::validating:
      return "validating";
    case JobStage::uploading:
      return "uploading";
  }
  return "unknown";
}

JobPaths::JobPaths(fs::path job_dir) : root(fs::absolute(std::move(job_dir)).lexically_normal()) {}

void write_file_atomically(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  const fs::path temporary = path.string() + ".tmp";
  {
    // Synced before the rename, so that after a power loss the file is the old one or the new one.
    const int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t written = 0;
    while (descriptor >= 0 && written < text.size()) {
      const ssize_t n = ::write(descriptor, text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    const int error = errno;
    const bool synced = descriptor >= 0 && written == text.size() && ::fsync(descriptor) == 0;
    if (descriptor >= 0) ::close(descriptor);
    if (!synced) {
      throw core::InternalError("cannot write " + temporary.string() + " (" + std::strerror(error) +
                                "): check the disk space and permissions");
    }
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error)
    throw core::InternalError("cannot move " + temporary.string() + " to " + path.string() + ": " +
                              error.message());
}

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::InternalError(path.string() + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& error) {
    throw core::InternalError(path.string() + " is not valid JSON (" + core::json_failure_text(error) +
                              "): remove the job folder to start the job over");
  }
}

JobState::JobState(const JobPaths& paths) : file_(paths.state_file()) {
  state_ = fs::exists(file_) ? read_json_file(file_)
                             : nlohmann::json{{"finished", nlohmann::json::array()},
                                              {"products", nlohmann::json::object()}};
  const auto finished = state_.find("finished");
  const auto products = state_.find("products");
  const bool shaped =
      state_.is_object() && finished != state_.end() && finished->is_array() &&
      std::all_of(finished->begin(), finished->end(), [](const auto& name) { return name.is_string(); }) &&
      products != state_.end() && products->is_object();
  if (!shaped) {
    throw core::InvalidInput(
        file_.string() +
        " is not the state of an avtrain job ({\"finished\": [stages], \"products\": {...}}): "
        "remove the job folder to start the job over, or choose another folder");
  }
}

bool JobState::finished(JobStage stage) const {
  for (const auto& name : state_["finished"])
    if (name == to_string(stage)) return true;
  return false;
}

const nlohmann::json& JobState::products(JobStage stage) const {
  static const nlohmann::json null_value;
  const auto& products = state_["products"];
  const auto found = products.find(std::string(to_string(stage)));
  return found == products.end() ? null_value : *found;
}

void JobState::mark_finished(JobStage stage, nlohmann::json products) {
  state_["products"][std::string(to_string(stage))] = std::move(products);
  if (!finished(stage)) state_["finished"].push_back(std::string(to_string(stage)));
  write_file_atomically(file_, core::json_text(state_, 2) + "\n");
}

void JobState::reopen(JobStage stage) {
  auto& finished = state_["finished"];
  finished.erase(std::remove(finished.begin(), finished.end(), nlohmann::json(std::string(to_string(stage)))),
                 finished.end());
  state_["products"].erase(std::string(to_string(stage)));
  write_file_atomically(file_, core::json_text(state_, 2) + "\n");
}

}  // namespace avtrain::service
