#pragma once
// What a finished job keeps, and for how long (issue 25): a succeeded job drops its working files at
// once (remove_working_files: the archive, extracted clips, pair tensors, latents, prompt contexts,
// checkpoints and the second copy of the LoRA), keeping what its result and status show (outputs,
// previews, metrics, log, result). A job's data is deleted on request (DELETE .../requests/{id}) or once
// it is older than the retention period (--retention-days): its folder goes and its file URLs are
// revoked, while its record stays in the store for the usage ledger. Uploads older than the period go
// too, unless a queued or running job names them.
#include <chrono>
#include <filesystem>
#include <string>

namespace avtrain::service {

class JobStore;
class Uploads;
struct JobPaths;

// The working files of a finished job (see above); returns the bytes freed.
uint64_t remove_working_files(const JobPaths& paths);

// Deletes a finished job's folder and revokes its file URLs; false when the job is not finished.
bool delete_job_data(JobStore& store, const std::filesystem::path& jobs_dir, const std::string& id);

// Deletes what is older than `retention` (jobs by their finish, uploads by their start); returns how
// many jobs and uploads went.
struct RetentionSweep {
  int jobs = 0, uploads = 0;
};
RetentionSweep apply_retention(JobStore& store, const std::filesystem::path& jobs_dir, const Uploads* uploads,
                               std::chrono::seconds retention);

// The bytes of the files under `folder` (0 when it does not exist).
uint64_t folder_bytes(const std::filesystem::path& folder);

}  // namespace avtrain::service
