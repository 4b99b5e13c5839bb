#include "service/job.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

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
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out)
      throw core::InternalError("cannot write " + temporary.string() +
                                ": check the disk space and permissions");
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
  } catch (const nlohmann::json::parse_error& error) {
    throw core::InternalError(path.string() + " is not valid JSON (" + error.what() +
                              "): remove the job folder to start the job over");
  }
}

JobState::JobState(const JobPaths& paths) : file_(paths.state_file()) {
  state_ = fs::exists(file_) ? read_json_file(file_)
                             : nlohmann::json{{"finished", nlohmann::json::array()},
                                              {"products", nlohmann::json::object()}};
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
  write_file_atomically(file_, state_.dump(2) + "\n");
}

}  // namespace avtrain::service
