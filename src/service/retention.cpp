#include "service/retention.h"

#include <spdlog/spdlog.h>

#include "core/log.h"
#include "service/job.h"
#include "service/job_store.h"
#include "service/uploads.h"

namespace avtrain::service {

namespace fs = std::filesystem;

uint64_t folder_bytes(const fs::path& folder) {
  uint64_t bytes = 0;
  std::error_code error;
  if (!fs::is_directory(folder, error))
    return fs::is_regular_file(folder, error) ? fs::file_size(folder, error) : 0;
  for (auto it = fs::recursive_directory_iterator(folder, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error)) bytes += it->file_size(error);
  }
  return bytes;
}

uint64_t remove_working_files(const JobPaths& paths) {
  uint64_t freed = 0;
  for (const auto& working :
       {paths.download_dir(), paths.dataset_dir(), paths.latents_dir(), paths.prompts_dir(),
        paths.training_dir() / "checkpoints", paths.training_dir() / "lora.safetensors"}) {
    freed += folder_bytes(working);
    std::error_code ignored;
    fs::remove_all(working, ignored);
  }
  return freed;
}

bool delete_job_data(JobStore& store, const fs::path& jobs_dir, const std::string& id) {
  if (!store.mark_deleted(id)) return false;
  std::error_code ignored;
  fs::remove_all(jobs_dir / id, ignored);
  return true;
}

RetentionSweep apply_retention(JobStore& store, const fs::path& jobs_dir, const Uploads* uploads,
                               std::chrono::seconds retention) {
  RetentionSweep sweep;
  const int64_t before = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(retention).count();
  for (const auto& id : store.finished_before(before)) {
    if (delete_job_data(store, jobs_dir, id)) ++sweep.jobs;
  }
  if (uploads) {
    for (const auto& upload : store.uploads_before(before)) {
      uploads->remove(upload);
      ++sweep.uploads;
    }
  }
  if (sweep.jobs > 0 || sweep.uploads > 0) {
    core::logger("service").info(
        "retention: deleted the data of {} job(s) and {} upload(s) older than {:.6g} days", sweep.jobs,
        sweep.uploads, retention.count() / 86400.0);
  }
  return sweep;
}

}  // namespace avtrain::service
