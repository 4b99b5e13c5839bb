#pragma once
// What the server's workers (service/job_runner.h) need from whatever runs a job, so that the workers
// (threads, claims, cancels, progress, logs, webhooks) need nothing of LibTorch: the product runs the
// job pipeline on its devices (service/pipeline_executor.h); the ThreadSanitizer tests run a stand-in
// through the same workers.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "service/fetch.h"
#include "service/job.h"
#include "service/job_store.h"
#include "service/request/training_request.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::service {

// What the workers give a running job: its fetch access (the server's, with the job owner's uploads
// resolved) and where it reports.
struct JobHooks {
  FetchOptions fetch;
  // The URL a delivered file is published under (a capability URL, DECISIONS.md §30).
  std::function<std::string(const std::filesystem::path& file, const std::string& content_type)> file_url;
  // Each validation preview once written; after each training step with its seconds.
  std::function<void(int64_t step, const std::filesystem::path& file)> on_preview;
  std::function<void(double step_seconds)> on_step;
};

struct WorkerDevice {
  std::string name;          // "cpu", "cuda:1"
  int64_t memory_bytes = 0;  // what the device holds now (the CUDA allocator, or the process's RSS)
};

class JobExecutor {
 public:
  virtual ~JobExecutor() = default;
  // Runs (or resumes) `job` in `paths` as worker `worker_index`. Failures are in the returned run (an
  // error body), not thrown; a cancelled `progress` ends it at its next clean point (exit code 4).
  virtual JobRun run(const StoredJob& job, const JobPaths& paths, int worker_index, const JobHooks& hooks,
                     core::Progress& progress) const = 0;
  // Worker `worker_index`'s device, for the metrics.
  virtual WorkerDevice device(int worker_index) const = 0;
  // The dataset check of POST {prefix}/dataset-check (Workers::check_dataset) in `scratch_dir`.
  virtual nlohmann::ordered_json check_dataset(const TrainingRequest& request, const FetchOptions& fetch,
                                               const std::filesystem::path& scratch_dir) const = 0;
  // Server folders that job logs users read must not name, each with what to show instead ("<models>").
  virtual std::vector<std::pair<std::string, std::string>> private_folders() const = 0;
};

}  // namespace avtrain::service
