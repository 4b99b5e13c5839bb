#pragma once
// The product's JobExecutor (service/job_executor.h): training jobs through the job pipeline
// (service/job_pipeline.h) and try-it jobs through service/inference_job.h, each worker on its device
// (a CUDA device without an index gives worker i the GPU i).
#include "models/checkpoint.h"
#include "service/job_executor.h"
#include "service/job_pipeline.h"
#include "service/request/resource_location.h"

namespace avtrain::service {

struct PipelineSettings {
  models::ModelFiles model_files;
  // The pipeline options of every job: device, test overrides. fetch and the callbacks come from the
  // workers' hooks.
  JobOptions job_options;
  // Which local files a stored request may name when it is read back (DECISIONS.md §21).
  LocalFilePolicy local_files = LocalFilePolicy::refuse_all();
  // The store a try-it job's training job is checked in (its LoRA must still be there).
  const JobStore* store = nullptr;
};

class PipelineExecutor : public JobExecutor {
 public:
  explicit PipelineExecutor(PipelineSettings settings) : settings_(std::move(settings)) {}

  JobRun run(const StoredJob& job, const JobPaths& paths, int worker_index, const JobHooks& hooks,
             core::Progress& progress) const override;
  WorkerDevice device(int worker_index) const override;
  nlohmann::ordered_json check_dataset(const TrainingRequest& request, const FetchOptions& fetch,
                                       const std::filesystem::path& scratch_dir) const override;
  std::vector<std::pair<std::string, std::string>> private_folders() const override;

 private:
  torch::Device worker_device(int worker_index) const;

  PipelineSettings settings_;
};

}  // namespace avtrain::service
