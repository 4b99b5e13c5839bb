#pragma once
// Per-step training metrics (issue 10): losses, learning rate, gradient norm, speed; one JSON object a
// line in <output>/metrics.jsonl, which the job's status and the user read while training runs.

#include <cstdint>
#include <filesystem>
#include <string>

namespace avtrain::train {

struct StepMetrics {
  int64_t step = 0, total_steps = 0;  // step is 1-based
  double loss = 0, video_loss = 0, audio_loss = 0;
  double learning_rate = 0;
  double grad_norm = 0;  // before clipping
  double step_seconds = 0;
  double tokens_per_second = 0;  // transformer tokens (target + reference, both streams) per second
};

// {"step":1,"total_steps":300,"loss":...,"video_loss":...,"audio_loss":...,"learning_rate":...,
//  "grad_norm":...,"step_seconds":...,"tokens_per_second":...}
std::string to_json_line(const StepMetrics& metrics);

class MetricsLog {
 public:
  // Opens `path` for appending. A resumed run first drops the lines of steps after `resume_step` (they
  // were logged after the checkpoint it continues from and will be logged again).
  MetricsLog(std::filesystem::path path, int64_t resume_step);
  void append(const StepMetrics& metrics);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace avtrain::train
