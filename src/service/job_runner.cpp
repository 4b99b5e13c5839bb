#include "service/job_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>

#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/progress.h"
#include "service/queue_errors.h"
#include "service/request/training_request.h"
#include "service/retention.h"
#include "service/uploads.h"
#include "service/webhook.h"
#include "service/webhook_signing.h"

namespace avtrain::service {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

spdlog::logger& log() { return core::logger("service"); }

// DECISIONS.md §31: the exit code of a cancelled job.
constexpr int kCancelledExitCode = 4;
// The store is told a job's progress at most this often (and at every stage change).
constexpr auto kProgressInterval = std::chrono::milliseconds(500);
// The housekeeper looks for due webhooks and start deadlines at least this often (and at once after
// each submission and each finished job).
constexpr auto kHousekeepingInterval = std::chrono::seconds(5);
// Retention is applied at start and then this often.
constexpr auto kRetentionInterval = std::chrono::hours(1);
// The user id of webhooks of a server without API keys (its jobs have no key identity).
constexpr const char* kAnonymousUser = "anonymous";

std::string upper_level(const std::string& level) {
  if (level == "warning") return "WARN";
  if (level == "critical") return "ERROR";
  std::string upper = level;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty() || from == "/" || from == ".") return text;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// The first message of an error body, for the webhook's `error` field.
std::string first_message(const json& body) {
  if (body.contains("detail") && body["detail"].is_string()) return body["detail"].get<std::string>();
  if (body.contains("detail") && body["detail"].is_array() && !body["detail"].empty() &&
      body["detail"][0].contains("msg")) {
    return body["detail"][0]["msg"].get<std::string>();
  }
  return "the job failed";
}

}  // namespace

JobRunner::JobRunner(JobStore& store, RunnerSettings settings)
    : store_(store), settings_(std::move(settings)) {
  if (!settings_.executor) throw core::InternalError("JobRunner: no executor to run jobs with");
  if (settings_.api_keys) {
    may_start_ = [keys = settings_.api_keys](std::string_view owner, int64_t running) {
      const auto limit = keys->limits_of(owner).max_concurrent_jobs;
      return !limit || running < *limit;
    };
  }
}

JobRunner::~JobRunner() { stop(); }

void JobRunner::start() {
  // Jobs that were running when the last server died: no-retry ones fail, the others resume.
  const auto lost = store_.fail_interrupted_without_retry(
      request_error_body(kRunnerDisconnected, 503,
                         "the server running this request stopped unexpectedly, and the request asked for no "
                         "retry (x-fal-no-retry): submit it again")
          .dump(),
      503);
  for (const auto& id : lost) log().warn("job {}: lost with its server; no retry asked, failed", id);
  const int requeued = store_.requeue_interrupted();
  if (requeued > 0) log().info("{} interrupted job(s) queued again to resume from their folders", requeued);
  const auto poison = store_.fail_lost_jobs(
      settings_.max_lost_runs,
      core::json_text(request_error_body(
          kRunnerDisconnected, 503,
          fmt::format(
              "the server stopped unexpectedly during each of this request's last {} runs (killed, out of "
              "memory or crashed): it is not run again. Check the server's log, then submit it again",
              settings_.max_lost_runs))),
      503);
  for (const auto& id : poison) {
    log().error("job {}: lost with its server {} times; failed instead of run again", id,
                settings_.max_lost_runs);
  }
  steps_per_second_.assign(static_cast<size_t>(settings_.workers), 0.0);
  for (int i = 0; i < settings_.workers; ++i) threads_.emplace_back([this, i] { work(i); });
  threads_.emplace_back([this] { keep_house(); });
}

void JobRunner::job_submitted() {
  const std::lock_guard lock(mutex_);  // a worker between its empty claim and its wait still wakes
  wake_workers_.notify_all();
  housework_due_ = true;  // a new start deadline may be the nearest
  wake_housekeeper_.notify_all();
}

void JobRunner::job_cancelled(const std::string& request_id) {
  const std::lock_guard lock(mutex_);
  if (const auto it = running_.find(request_id); it != running_.end()) it->second->cancel();
}

void JobRunner::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& [id, progress] : running_) progress->cancel();
  }
  wake_workers_.notify_all();
  wake_housekeeper_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

bool JobRunner::alive() const {
  const std::lock_guard lock(mutex_);
  return !stopping_ && live_workers_ == settings_.workers;
}

std::string JobRunner::metrics_text() const {
  std::string text =
      "# HELP avtrain_worker_steps_per_second Training steps per second of the worker's job (0 when idle).\n"
      "# TYPE avtrain_worker_steps_per_second gauge\n";
  std::string memory =
      "# HELP avtrain_worker_device_memory_bytes Memory the worker's device holds (CUDA allocator, or the "
      "process's RSS on the CPU).\n# TYPE avtrain_worker_device_memory_bytes gauge\n";
  std::vector<double> rates;
  {
    const std::lock_guard lock(mutex_);
    rates = steps_per_second_;
  }
  for (size_t worker = 0; worker < rates.size(); ++worker) {
    const auto device = settings_.executor->device(static_cast<int>(worker));
    text += fmt::format("avtrain_worker_steps_per_second{{worker=\"{}\",device=\"{}\"}} {:.6g}\n", worker,
                        device.name, rates[worker]);
    memory += fmt::format("avtrain_worker_device_memory_bytes{{worker=\"{}\",device=\"{}\"}} {}\n", worker,
                          device.name, device.memory_bytes);
  }
  text += memory;
  text +=
      "# HELP avtrain_webhook_deliveries_total Webhooks by how their delivery ended.\n"
      "# TYPE avtrain_webhook_deliveries_total counter\n";
  text += fmt::format("avtrain_webhook_deliveries_total{{result=\"delivered\"}} {}\n",
                      webhooks_delivered_.load());
  text +=
      fmt::format("avtrain_webhook_deliveries_total{{result=\"refused\"}} {}\n", webhooks_refused_.load());
  text +=
      fmt::format("avtrain_webhook_deliveries_total{{result=\"gave_up\"}} {}\n", webhooks_given_up_.load());
  return text;
}

void JobRunner::work(int worker_index) {
  ++live_workers_;
  struct Leaving {
    std::atomic<int>& live;
    ~Leaving() { --live; }
  } leaving{live_workers_};
  for (;;) {
    std::optional<StoredJob> job;
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (stopping_) return;
        job = store_.claim_next(may_start_);
        if (job) break;
        wake_workers_.wait_for(lock, std::chrono::seconds(2));
      }
    }
    try {
      run_job(*job, worker_index);
    } catch (const std::exception& error) {
      // The store itself failed (disk full, ...): the job stays running and resumes after a restart.
      log().error("worker {}: job {} could not be recorded: {}", worker_index, job->id, error.what());
    }
    const std::lock_guard lock(mutex_);
    housework_due_ = true;
    wake_housekeeper_.notify_all();
  }
}

FetchOptions JobRunner::fetch_options_for(const std::string& owner) const {
  FetchOptions fetch = settings_.fetch;
  if (const Uploads* uploads = settings_.uploads) {
    fetch.own_upload = [uploads, owner](std::string_view url,
                                        std::string_view field) -> std::optional<std::filesystem::path> {
      if (!uploads->is_upload_url(url)) return std::nullopt;
      return uploads->resolve(url, owner, field);
    };
  }
  return fetch;
}

nlohmann::ordered_json JobRunner::check_dataset(const TrainingRequest& request,
                                                const std::string& owner) const {
  // Beside the jobs' folders, so the same disk holds it; a random name per check.
  const auto scratch = settings_.jobs_dir.parent_path() / "dataset-checks" / random_uuid();
  std::filesystem::create_directories(scratch);
  struct RemoveWhenDone {
    std::filesystem::path folder;
    ~RemoveWhenDone() {
      std::error_code ignored;
      std::filesystem::remove_all(folder, ignored);
    }
  } remove{scratch};
  FetchOptions fetch = fetch_options_for(owner);
  fetch.field = "training_data_url";
  return settings_.executor->check_dataset(request, fetch, scratch);
}

void JobRunner::run_job(const StoredJob& job, int worker_index) {
  log().info("worker {}: job {} starts (attempt {})", worker_index, job.id, job.attempts);
  core::Progress progress("", /*draw=*/false);
  {
    const std::lock_guard lock(mutex_);
    running_[job.id] = &progress;
    // A cancel may have arrived between the claim and now.
    if (stopping_ || store_.find(job.id)->cancel_requested) progress.cancel();
  }
  auto last_update = Clock::now() - kProgressInterval;
  std::string last_stage;
  progress.add_listener([&](const core::ProgressEvent& event) {
    const std::string stage = event.scope.substr(0, event.scope.find('/'));
    const auto now = Clock::now();
    if (stage == last_stage && now - last_update < kProgressInterval && event.fraction < 1) return;
    last_stage = stage;
    last_update = now;
    store_.update_progress(job.id, stage, event.fraction, event.message);
  });

  JobRun run;
  {
    // The user reads these lines (the status's logs, the dashboard): the server's folders stay out of
    // them, shown as <job> (the job's own), <data> and <models> (job.log keeps the full paths for the
    // operator). Files the request named are the user's own and stay as given.
    std::vector<std::pair<std::string, std::string>> folders = {
        {(settings_.jobs_dir / job.id).string(), "<job>"},
        {settings_.jobs_dir.parent_path().string(), "<data>"}};
    for (auto& folder : settings_.executor->private_folders()) folders.push_back(std::move(folder));
    core::LogCapture capture([&](const core::LogLine& line) {
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(line.time.time_since_epoch()).count();
      std::string message = line.message;
      for (const auto& [folder, name] : folders) message = replace_all(std::move(message), folder, name);
      store_.append_log(job.id, StoredLogLine{0, ms, upper_level(line.level), std::move(message)});
    });
    JobHooks hooks;
    hooks.fetch = fetch_options_for(job.owner);
    hooks.on_step = [this, worker_index](double step_seconds) {
      const std::lock_guard lock(mutex_);
      steps_per_second_[static_cast<size_t>(worker_index)] = step_seconds > 0 ? 1.0 / step_seconds : 0;
    };
    hooks.file_url = [&](const std::filesystem::path& file, const std::string& content_type) {
      const std::string name = file.filename().string();
      const std::string token = store_.publish_file(job.id, file, name, content_type);
      return settings_.public_url + "/files/" + token + "/" + url_path_segment(name);
    };
    // Each preview is published once, under a capability URL, and listed in the status.
    hooks.on_preview = [&](int64_t step, const std::filesystem::path& file) {
      for (const auto& preview : store_.previews(job.id)) {
        if (preview.step == step) return;
      }
      const std::string name = file.filename().string();
      const std::string token = store_.publish_file(job.id, file, name, "video/mp4");
      store_.add_preview(job.id, {step, token, name, std::filesystem::file_size(file)});
    };
    run = settings_.executor->run(job, JobPaths(settings_.jobs_dir / job.id), worker_index, hooks, progress);
  }

  bool interrupted_by_shutdown = false;
  {
    const std::lock_guard lock(mutex_);
    running_.erase(job.id);
    steps_per_second_[static_cast<size_t>(worker_index)] = 0;
    interrupted_by_shutdown = stopping_ && run.exit_code == kCancelledExitCode;
  }
  if (interrupted_by_shutdown && !store_.find(job.id)->cancel_requested) {
    store_.requeue(job.id);
    log().info("worker {}: job {} interrupted by the shutdown; it resumes when the server restarts",
               worker_index, job.id);
    return;
  }
  const StoredJobStatus status = run.exit_code == 0                    ? StoredJobStatus::succeeded
                                 : run.exit_code == kCancelledExitCode ? StoredJobStatus::cancelled
                                                                       : StoredJobStatus::failed;
  const int http_status = run.exit_code == 0 ? 200 : run.body.value("status", 500);
  store_.finish(job.id, status, core::json_text(run.body), http_status);
  log().info("worker {}: job {} {}", worker_index, job.id, to_string(status));
}

void JobRunner::keep_house() {
  auto next_retention = Clock::now();
  const auto stopping = [this] {
    const std::lock_guard lock(mutex_);
    return stopping_;
  };
  for (bool first = true;; first = false) {
    if (!first) {
      auto wait = std::chrono::milliseconds(kHousekeepingInterval);
      if (const int64_t deadline = store_.next_start_deadline(); deadline > 0) {
        wait = std::clamp(std::chrono::milliseconds(deadline - now_ms()), std::chrono::milliseconds(0), wait);
      }
      std::unique_lock lock(mutex_);
      wake_housekeeper_.wait_for(lock, wait, [this] { return stopping_ || housework_due_; });
      if (stopping_) return;
      housework_due_ = false;
    }
    try {
      const auto expired = store_.expire_unstarted(
          now_ms(),
          request_error_body(kRequestTimeout, 504,
                             "Request timed out: it did not start within its X-Fal-Request-Timeout")
              .dump(),
          504);
      for (const auto& id : expired) log().info("job {}: not started by its deadline; failed (billed 0)", id);
      deliver_pending_webhooks(stopping);
      if (settings_.retention.count() > 0 && Clock::now() >= next_retention) {
        apply_retention(store_, settings_.jobs_dir, settings_.uploads, settings_.retention);
        next_retention = Clock::now() + kRetentionInterval;
      }
    } catch (const std::exception& error) {
      log().error("housekeeping: {}", error.what());
    }
  }
}

void JobRunner::deliver_pending_webhooks(const std::function<bool()>& stopping) {
  WebhookOptions options;
  options.allow_private_destinations = settings_.allow_private_webhooks;
  for (const auto& job : store_.pending_webhooks()) {
    if (stopping()) return;
    const bool ok = job.status == StoredJobStatus::succeeded;
    const auto payload = json::parse(job.result_json);
    const auto body =
        core::json_text(webhook_body(job.id, ok, payload, ok ? std::string() : first_message(payload)));
    // Signed afresh for every attempt: receivers refuse timestamps more than 300 s off.
    WebhookHeaders sign;
    if (settings_.webhook_signer) {
      sign = [this, &job, &body] {
        return settings_.webhook_signer->headers(job.id, job.owner.empty() ? kAnonymousUser : job.owner,
                                                 body);
      };
    }
    const auto result = deliver_webhook(job.webhook_url, body, options, stopping, sign);
    if (result == WebhookResult::stopped) return;
    ++(result == WebhookResult::delivered  ? webhooks_delivered_
       : result == WebhookResult::rejected ? webhooks_refused_
                                           : webhooks_given_up_);
    // Delivered, refused for good or given up after every retry: either way it is not sent again
    // (deliver_webhook logged why).
    store_.mark_webhook_delivered(job.id);
  }
}

}  // namespace avtrain::service
