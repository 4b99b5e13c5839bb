#pragma once
// The server's workers (issue 13): N threads (one per GPU) take queued jobs from the JobStore in
// submission order and run each through the job pipeline (service/job_pipeline.h) in its own folder
// under the server's data folder, feeding the store the job's stage, progress and log lines; a
// sender thread delivers the webhooks of finished jobs, retried with backoff.
//
// A job cancelled through the API stops at its next clean point and is finished as cancelled (billed
// 0). Stopping the server (stop(), the destructor) interrupts running jobs WITHOUT finishing them: they
// stay "running" in the store, and the next server queues them again (JobStore::requeue_interrupted)
// to resume from their folders' last stage and checkpoint.
#include <condition_variable>
#include <filesystem>
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
  void send_webhooks();

  JobStore& store_;
  RunnerSettings settings_;
  std::mutex mutex_;
  std::condition_variable wake_workers_, wake_sender_;
  bool stopping_ = false;
  bool webhooks_due_ = false;                       // a job finished since the sender last looked
  std::map<std::string, core::Progress*> running_;  // request_id -> its job's progress (for cancel)
  std::vector<std::thread> threads_;
};

}  // namespace avtrain::service
