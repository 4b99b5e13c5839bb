#pragma once
// The server's workers (issue 13): N threads (one per GPU) take queued jobs from the JobStore in
// submission order and run each through the job pipeline (service/job_pipeline.h) in its own folder
// under the server's data folder, feeding the store the job's stage, progress, log lines and previews;
// a housekeeping thread fails jobs still queued at their start deadline (X-Fal-Request-Timeout) and
// delivers the webhooks of finished jobs, signed (service/webhook_signing.h) and retried with backoff.
//
// A job cancelled through the API stops at its next clean point and is finished as cancelled (billed
// 0). Stopping the server (stop(), the destructor) interrupts running jobs WITHOUT finishing them: they
// go back to the queue at their places and resume from their folders' last stage and checkpoint at the
// next start. A job whose server died while it ran is queued again the same way at the next start
// (JobStore::requeue_interrupted), unless it asked for no retry (x-fal-no-retry): that one fails as
// runner_disconnected.
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "models/checkpoint.h"
#include "service/job_pipeline.h"
#include "service/job_store.h"
#include "service/request/resource_location.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::service {

class Uploads;
class WebhookSigner;

struct RunnerSettings {
  std::filesystem::path jobs_dir;  // each job runs in jobs_dir / request_id
  models::ModelFiles model_files;
  // The pipeline options of every job: device (a CUDA device without an index gives worker i the
  // GPU i), test overrides, the server's fetch access. file_url is set by the runner.
  JobOptions job_options;
  // Which local files a stored request may name when it is read back (DECISIONS.md §21).
  LocalFilePolicy local_files = LocalFilePolicy::refuse_all();
  // Capability URLs of result files: public_url + "/files/<token>/<name>" (DECISIONS.md §30).
  std::string public_url;
  int workers = 1;
  bool allow_private_webhooks = false;
  WebhookSigner* webhook_signer = nullptr;  // signs every webhook when set
  const Uploads* uploads = nullptr;         // resolves requests' upload URLs when set
};

class JobRunner {
 public:
  JobRunner(JobStore& store, RunnerSettings settings);
  ~JobRunner();  // stop()
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts the workers and the webhook sender.
  void start();
  // A job was queued: an idle worker takes it now.
  void notify_submitted();
  // Stops a running job at its next clean point (the store already records the request).
  void cancel(const std::string& request_id);
  // Interrupts running jobs (left resumable) and joins every thread.
  void stop();

 private:
  void work(int worker_index);
  void run_job(const StoredJob& job, int worker_index);
  // The housekeeping thread: start deadlines and webhooks.
  void keep_house();
  void deliver_pending_webhooks(const std::function<bool()>& stopping);

  JobStore& store_;
  RunnerSettings settings_;
  std::mutex mutex_;
  std::condition_variable wake_workers_, wake_housekeeper_;
  bool stopping_ = false;
  bool housework_due_ = false;  // a job finished or was submitted since the housekeeper last looked
  std::map<std::string, core::Progress*> running_;  // request_id -> its job's progress (for cancel)
  std::vector<std::thread> threads_;
};

}  // namespace avtrain::service
