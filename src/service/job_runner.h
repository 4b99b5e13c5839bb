#pragma once
// The server's workers (issue 13): N threads (one per GPU) take queued jobs from the JobStore in
// submission order and run each through the executor (service/job_executor.h; the job pipeline in the
// product) in its own folder under the server's data folder, feeding the store the job's stage,
// progress, log lines and previews;
// a housekeeping thread fails jobs still queued at their start deadline (X-Fal-Request-Timeout) and
// delivers the webhooks of finished jobs, signed (service/webhook_signing.h) and retried with backoff.
//
// A job cancelled through the API stops at its next clean point and is finished as cancelled (billed
// 0). Stopping the server (stop(), the destructor) interrupts running jobs WITHOUT finishing them: they
// go back to the queue at their places and resume from their folders' last stage and checkpoint at the
// next start. A job whose server died while it ran is queued again the same way at the next start
// (JobStore::requeue_interrupted), unless it asked for no retry (x-fal-no-retry) or its runs were lost
// that way 3 times (a poison job, which would otherwise kill every server it meets): that one fails as
// runner_disconnected, billed 0. The housekeeper also applies the data retention (service/retention.h).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "service/api_keys.h"
#include "service/fetch.h"
#include "service/job_executor.h"
#include "service/job_store.h"
#include "service/workers.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::service {

class Uploads;
class WebhookSigner;

struct RunnerSettings {
  std::filesystem::path jobs_dir;  // each job runs in jobs_dir / request_id
  // What runs each job (required; it outlives the runner).
  const JobExecutor* executor = nullptr;
  // The server's fetch access for training data and validation downloads; each job's owner's uploads
  // are resolved through `uploads`.
  FetchOptions fetch;
  // Capability URLs of result files: public_url + "/files/<token>/<name>" (DECISIONS.md §30).
  std::string public_url;
  int workers = 1;
  bool allow_private_webhooks = false;
  WebhookSigner* webhook_signer = nullptr;  // signs every webhook when set
  const Uploads* uploads = nullptr;         // resolves requests' upload URLs when set
  // Finished jobs' data and uploads older than this are deleted (service/retention.h); 0: kept.
  std::chrono::seconds retention{std::chrono::hours(24 * 30)};
  // A job whose runs were lost with their server this many times fails as runner_disconnected.
  int max_lost_runs = 3;
  // The keys' limits: a key at its max_concurrent_jobs has its next job wait (null: no limits).
  std::shared_ptr<const ApiKeys> api_keys;
};

class JobRunner : public Workers {
 public:
  JobRunner(JobStore& store, RunnerSettings settings);
  ~JobRunner();  // stop()
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts the workers and the webhook sender.
  void start();
  // A job was queued: an idle worker takes it now.
  void job_submitted() override;
  // Stops a running job at its next clean point (the store already records the request).
  void job_cancelled(const std::string& request_id) override;
  // Interrupts running jobs (left resumable) and joins every thread.
  void stop();
  // Every worker thread runs (none ended by an unexpected exception).
  bool alive() const override;
  // avtrain_worker_steps_per_second, avtrain_worker_device_memory_bytes (per worker),
  // avtrain_webhook_deliveries_total (by result).
  std::string metrics_text() const override;
  // In a scratch folder under the data folder, removed afterwards.
  nlohmann::ordered_json check_dataset(const TrainingRequest& request,
                                       const std::string& owner) const override;

 private:
  void work(int worker_index);
  void run_job(const StoredJob& job, int worker_index);
  // The housekeeping thread: start deadlines and webhooks.
  void keep_house();
  void deliver_pending_webhooks(const std::function<bool()>& stopping);
  // The jobs' fetch access for `owner`: the server's, with its own upload URLs read from the store.
  FetchOptions fetch_options_for(const std::string& owner) const;

  JobStore& store_;
  RunnerSettings settings_;
  mutable std::mutex mutex_;
  std::condition_variable wake_workers_, wake_housekeeper_;
  bool stopping_ = false;
  bool housework_due_ = false;  // a job finished or was submitted since the housekeeper last looked
  std::map<std::string, core::Progress*> running_;  // request_id -> its job's progress (for cancel)
  std::vector<std::thread> threads_;
  // Per worker, for the metrics: the rate of its job's last training step (0 when idle).
  std::vector<double> steps_per_second_;  // guarded by mutex_
  std::atomic<int> live_workers_{0};
  JobStore::MayStart may_start_;  // the keys' max_concurrent_jobs
  std::atomic<int64_t> webhooks_delivered_{0}, webhooks_refused_{0}, webhooks_given_up_{0};
};

}  // namespace avtrain::service
