#include "train/training_metrics.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace avtrain::train {

std::string to_json_line(const StepMetrics& m) {
  const nlohmann::ordered_json line = {{"step", m.step},
                                       {"total_steps", m.total_steps},
                                       {"loss", m.loss},
                                       {"video_loss", m.video_loss},
                                       {"audio_loss", m.audio_loss},
                                       {"learning_rate", m.learning_rate},
                                       {"grad_norm", m.grad_norm},
                                       {"step_seconds", m.step_seconds},
                                       {"tokens_per_second", m.tokens_per_second}};
  return line.dump();
}

MetricsLog::MetricsLog(std::filesystem::path path, int64_t resume_step) : path_(std::move(path)) {
  if (!path_.parent_path().empty()) std::filesystem::create_directories(path_.parent_path());
  if (!std::filesystem::exists(path_)) return;
  std::vector<std::string> kept;
  {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      // A torn last line (the process died mid-write) is dropped with the later steps.
      if (parsed.is_discarded() || !parsed.contains("step")) continue;
      if (parsed["step"].get<int64_t>() <= resume_step) kept.push_back(line);
    }
  }
  std::ofstream out(path_, std::ios::trunc);
  for (const auto& line : kept) out << line << '\n';
  if (!out) {
    throw core::InternalError(fmt::format("cannot rewrite the metrics file {} ({}, disk full?)",
                                          path_.string(), std::strerror(errno)));
  }
}

void MetricsLog::append(const StepMetrics& metrics) {
  std::ofstream out(path_, std::ios::app);
  out << to_json_line(metrics) << '\n';
  out.flush();
  if (!out) {
    throw core::InternalError(fmt::format("cannot append to the metrics file {} ({}, disk full?)",
                                          path_.string(), std::strerror(errno)));
  }
}

}  // namespace avtrain::train
