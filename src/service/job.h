#pragma once
// A training job's folder (DESIGN.md "Job pipeline"): everything a job writes lives under one folder,
// so that rerunning the same job on it continues where it stopped (issue 12):
//   job.json      the state: the stages finished so far and what they produced (written atomically)
//   request.json  the request as normalized; a rerun must bring the same request
//   job.log       every log line of the job
//   download/     the fetched archive (remote URLs only; local files are read in place)
//   dataset/      the extracted archive, the preprocessed pairs and their manifest
//   prompts/      the text-context cache; latents/ the encoded pairs
//   training/     the trainer's checkpoints and metrics.jsonl; previews/ step_N.mp4
//   outputs/      the delivered files; result.json (success) or error.json (failure)
#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace avtrain::service {

// The stages of a job, in order (DESIGN.md; the hosted endpoint's status names).
enum class JobStage { downloading, preprocessing, encoding, training, validating, uploading };
inline constexpr std::array kJobStages = {JobStage::downloading, JobStage::preprocessing,
                                          JobStage::encoding,    JobStage::training,
                                          JobStage::validating,  JobStage::uploading};
std::string_view to_string(JobStage stage);

// The delivered LoRA's file name in a training job's outputs/ (a try-it job reads it from there).
inline constexpr const char* kLoraFileName = "lora.safetensors";

struct JobPaths {
  explicit JobPaths(std::filesystem::path job_dir);

  std::filesystem::path root;
  std::filesystem::path state_file() const { return root / "job.json"; }
  std::filesystem::path request_file() const { return root / "request.json"; }
  std::filesystem::path log_file() const { return root / "job.log"; }
  std::filesystem::path download_dir() const { return root / "download"; }
  std::filesystem::path dataset_dir() const { return root / "dataset"; }
  std::filesystem::path prompts_dir() const { return root / "prompts"; }
  std::filesystem::path latents_dir() const { return root / "latents"; }
  std::filesystem::path training_dir() const { return root / "training"; }
  std::filesystem::path previews_dir() const { return root / "previews"; }
  std::filesystem::path preview_file(int64_t step) const {
    return previews_dir() / ("step_" + std::to_string(step) + ".mp4");
  }
  std::filesystem::path outputs_dir() const { return root / "outputs"; }
  std::filesystem::path result_file() const { return root / "result.json"; }
  std::filesystem::path error_file() const { return root / "error.json"; }
};

// How a job's run ended: its exit code (DECISIONS.md §31: 0 delivered, 2 invalid input, 3 download
// failure, 4 cancelled, 1 other) and its result.json or error.json body as written.
struct JobRun {
  int exit_code = 0;
  nlohmann::ordered_json body;
};

// Writes `text` to `path` through `path`.tmp and a rename, so a reader (or a killed job's rerun)
// sees the old file or the new one, never half of one. Throws core::InternalError naming the path.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);
// Parses a JSON file; throws core::InternalError naming the path when it is missing or not JSON.
nlohmann::json read_json_file(const std::filesystem::path& path);

// job.json: {"finished": [stage names], "products": {stage name: what the stage recorded}}.
class JobState {
 public:
  // The state of `paths` (empty when the job is new).
  explicit JobState(const JobPaths& paths);

  bool finished(JobStage stage) const;
  // What `stage` recorded when it finished (null when it has not).
  const nlohmann::json& products(JobStage stage) const;
  // Records `stage` as finished with its products and writes job.json atomically.
  void mark_finished(JobStage stage, nlohmann::json products = nlohmann::json::object());
  // Records `stage` as not finished (its products found damaged): the next run runs it again.
  void reopen(JobStage stage);

 private:
  std::filesystem::path file_;
  nlohmann::json state_;
};

}  // namespace avtrain::service
