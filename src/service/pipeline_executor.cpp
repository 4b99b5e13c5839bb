#include "service/pipeline_executor.h"

#include <torch/torch.h>

#include "core/error.h"
#include "core/runtime.h"
#include "service/inference_job.h"

namespace avtrain::service {

using nlohmann::ordered_json;

torch::Device PipelineExecutor::worker_device(int worker_index) const {
  const torch::Device device = settings_.job_options.device;
  if (!device.is_cuda() || device.has_index()) return device;
  const int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(count > 0 ? worker_index % count : 0));
}

JobRun PipelineExecutor::run(const StoredJob& job, const JobPaths& paths, int worker_index,
                             const JobHooks& hooks, core::Progress& progress) const {
  JobOptions options = settings_.job_options;
  options.device = worker_device(worker_index);
  options.fetch = hooks.fetch;
  options.file_url = hooks.file_url;
  options.on_preview = hooks.on_preview;
  options.on_step = hooks.on_step;
  try {
    if (job.kind == JobKind::inference) {
      const auto request =
          parse_inference_request_json(ordered_json::parse(job.request_json), settings_.local_files);
      // Checked again: the training job may have been deleted since.
      if (settings_.store) {
        if (auto problem = trained_lora_problem(*settings_.store, job.owner, request.request_id))
          throw core::InvalidInput({std::move(*problem)});
      }
      const JobPaths trained(paths.root.parent_path() / request.request_id);
      return run_inference_job(request, paths, trained.outputs_dir() / kLoraFileName, settings_.model_files,
                               options, progress);
    }
    const auto request =
        parse_training_request_json(ordered_json::parse(job.request_json), settings_.local_files);
    return run_recorded_job(request, paths, settings_.model_files, options, progress);
  } catch (const core::Error& error) {  // the stored request no longer passes (e.g. the policy changed)
    auto body = ordered_json::parse(error.detail_json());
    body["status"] = error.http_status();
    body["billing"] = {{"units", 0}, {"cost_usd", "0.00"}};
    return {error.exit_code(), std::move(body)};
  }
}

WorkerDevice PipelineExecutor::device(int worker_index) const {
  const torch::Device device = worker_device(worker_index);
  return {device.str(), static_cast<int64_t>(core::device_memory(device).current_bytes)};
}

ordered_json PipelineExecutor::check_dataset(const TrainingRequest& request, const FetchOptions& fetch,
                                             const std::filesystem::path& scratch_dir) const {
  const auto check =
      check_dataset_at(request.training_data_url, dataset_options(request, settings_.job_options.overrides),
                       fetch, scratch_dir);
  return dataset_check_json(check, request);
}

std::vector<std::pair<std::string, std::string>> PipelineExecutor::private_folders() const {
  return {{settings_.model_files.checkpoint.parent_path().string(), "<models>"},
          {settings_.model_files.text_encoder_dir.parent_path().string(), "<models>"}};
}

}  // namespace avtrain::service
