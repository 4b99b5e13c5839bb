#pragma once
// The server's job store (issue 13, DESIGN.md "service"): one SQLite database in WAL mode under the
// server's data folder holding every submitted job, its state, its log lines, its published result
// files and its webhook delivery, so that a restarted server loses nothing: queued jobs stay queued in
// submission order and jobs that were running are queued again (at their old place) to resume from
// their job folders.
//
//   JobStore store(data_dir / "jobs.sqlite3");
//   const auto id = store.submit({owner, request_json, webhook_url});
//   while (auto job = store.claim_next()) { ... store.finish(job->id, ...); }
//
// Thread-safe: one connection behind a mutex (workers, HTTP handlers and the webhook sender share it).
// Every failure of SQLite is a core::InternalError naming the database file and the operation.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "service/job_changes.h"
#include "service/uploads.h"

namespace avtrain::service {

// queued -> running -> succeeded | failed | cancelled. A cancelled queued job never runs.
enum class StoredJobStatus { queued, running, succeeded, failed, cancelled };
std::string_view to_string(StoredJobStatus status);
bool is_finished(StoredJobStatus status);

// What a job does: train a LoRA (POST .../av2av) or apply a trained one to a new clip (POST .../infer).
enum class JobKind { training, inference };
std::string_view to_string(JobKind kind);

struct JobSubmission {
  std::string owner;                 // who may see the job: an API key's identity ("" without keys)
  std::string request_json;          // the normalized request (service/request/training_request.h)
  std::string webhook_url;           // "" for none
  std::vector<std::string> notes;    // what the request check told the user (ignored fields, snaps, ...)
  int64_t start_deadline_ms = 0;     // X-Fal-Request-Timeout: still queued then -> failed (0: none)
  bool no_retry = false;             // x-fal-no-retry: a run the server lost is failed, not resumed
  JobKind kind = JobKind::training;  // request_json is a TrainingRequest or an InferenceRequest
};

struct StoredJob {
  std::string id;  // request_id: a random UUID (version 4, lower-case hex)
  std::string owner;
  std::string request_json;
  std::string webhook_url;
  StoredJobStatus status = StoredJobStatus::queued;
  std::string stage;    // the running stage ("downloading", ... "uploading"); "" before the first
  double progress = 0;  // of the whole job, 0..1
  std::string message;  // the last progress message ("step 120/300")
  bool cancel_requested = false;
  int64_t submitted_ms = 0, started_ms = 0, finished_ms = 0;  // Unix epoch milliseconds; 0 = not yet
  int attempts = 0;  // times a worker took it (more than 1 after a restart resumed it)
  // Once finished: the result JSON (succeeded) or the error body (failed, cancelled), and the HTTP
  // status GET .../requests/{id} answers with (200, 422 for rejected input, 500, ...).
  std::string result_json;
  int http_status = 0;
  bool webhook_delivered = false;
  std::vector<std::string> notes;
  int64_t start_deadline_ms = 0;
  bool no_retry = false;
  int64_t sequence = 0;       // submission order (the history's cursor)
  int lost_runs = 0;          // runs lost with their server (killed, crashed): poison jobs end at 3
  int64_t billing_units = 0;  // what a succeeded job billed; 0 otherwise
  int64_t deleted_ms = 0;     // its data deleted (DELETE or retention); the record stays for the ledger
  JobKind kind = JobKind::training;
};

// Which jobs a history lists (GET .../requests?status=).
enum class JobListFilter { all, queued, running, completed, succeeded, failed, cancelled };

// A page of a key's history, newest first; next_before is the sequence to continue from (0: no more).
struct JobPage {
  std::vector<StoredJob> jobs;
  int64_t next_before = 0;
};

// One key's usage over a period (GET /usage, avtrain usage): jobs finished in it by outcome, and units.
struct KeyUsage {
  std::string owner;
  int64_t jobs = 0, succeeded = 0, failed = 0, cancelled = 0, units = 0;
};

// A validation preview published under a capability URL (listed in the job's status).
struct StoredPreview {
  int64_t step = 0;
  std::string token;  // of its file (files table)
  std::string file_name;
  uint64_t file_size = 0;
};

// When a job's stage first started (the stage timeline).
struct StageStart {
  std::string stage;
  int64_t started_ms = 0;
};

struct StoredLogLine {
  int64_t sequence = 0;  // increasing per store; for "lines after" queries
  int64_t timestamp_ms = 0;
  std::string level;  // "info", "warn", "error", ...
  std::string message;
};

struct StoredFile {
  std::string token;  // 128 random bits, 32 lower-case hex digits
  std::string job_id;
  std::filesystem::path path;
  std::string file_name;
  std::string content_type;
};

class JobStore {
 public:
  // Opens (creating when missing) the database; WAL journal, a busy timeout, the schema.
  explicit JobStore(const std::filesystem::path& database_file);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Queues a new job and returns its id.
  std::string submit(const JobSubmission& submission);
  std::optional<StoredJob> find(std::string_view id) const;
  // Jobs queued before this one (0 = next to run); nullopt when it is not queued.
  std::optional<int64_t> queue_position(std::string_view id) const;

  // Whether a job of `owner`, who has `running` jobs running, may start now (a key's limit).
  using MayStart = std::function<bool(std::string_view owner, int64_t running)>;
  // Takes the oldest queued job (submission order) that `may_start` lets start (any, when unset), marks
  // it running (started_ms, attempts + 1) and returns it; nullopt when none. Two workers never get the
  // same job.
  std::optional<StoredJob> claim_next(const MayStart& may_start = {});
  // At server start: every running job (its worker died with the last server) is queued again at
  // its original place in the order. Returns how many.
  int requeue_interrupted();

  // The running stage, progress and message; the first time a stage is named its start is recorded.
  void update_progress(std::string_view id, std::string_view stage, double progress,
                       std::string_view message);
  // Each stage the job entered, in order, with the time it first started.
  std::vector<StageStart> stage_starts(std::string_view id) const;
  void append_log(std::string_view id, const StoredLogLine& line);  // `sequence` is assigned
  // The job's log lines with sequence > `after`, oldest first.
  std::vector<StoredLogLine> logs(std::string_view id, int64_t after = 0) const;

  // Records the end of a running (or queued) job: status succeeded, failed or cancelled, its body and
  // HTTP status, finished_ms. A job already finished is left as it is (returns false).
  bool finish(std::string_view id, StoredJobStatus status, std::string_view body_json, int http_status);
  // A queued job is finished at once as cancelled with `cancelled_body` and `cancelled_http_status`
  // (returns cancelled); a running job gets cancel_requested = true, its worker stops it (returns
  // running); a finished or unknown job: nullopt.
  std::optional<StoredJobStatus> request_cancel(std::string_view id, std::string_view cancelled_body,
                                                int cancelled_http_status);

  // Result files published under capability URLs (DECISIONS.md §30).
  std::string publish_file(std::string_view job_id, const std::filesystem::path& path,
                           std::string_view file_name, std::string_view content_type);  // -> token
  std::optional<StoredFile> file(std::string_view token) const;

  // Finished jobs with a webhook URL whose webhook has not been delivered (oldest first), and the mark.
  std::vector<StoredJob> pending_webhooks() const;
  void mark_webhook_delivered(std::string_view id);

  // Queued jobs whose start deadline has passed at `now_ms` are finished as failed with `body` and
  // `http_status` (X-Fal-Request-Timeout); returns their ids. claim_next never takes such a job.
  std::vector<std::string> expire_unstarted(int64_t now_ms, std::string_view body, int http_status);
  // The earliest start deadline of a queued job (0: none).
  int64_t next_start_deadline() const;
  // A running job goes back to the queue at its place (a server shutting down hands it back).
  void requeue(std::string_view id);
  // At server start: running jobs (their server died) that asked for no retry are finished as failed
  // with `body` and `http_status`; returns their ids. Call before requeue_interrupted.
  std::vector<std::string> fail_interrupted_without_retry(std::string_view body, int http_status);

  // Validation previews: one per (job, step), published once (a repeated step keeps the first).
  void add_preview(std::string_view job_id, const StoredPreview& preview);
  std::vector<StoredPreview> previews(std::string_view job_id) const;

  // Uploads through the storage routes (service/uploads.h).
  void add_upload(const StoredUpload& upload);
  std::optional<StoredUpload> upload(std::string_view id) const;
  std::optional<StoredUpload> upload_by_token(std::string_view upload_token) const;
  void complete_upload(std::string_view id, uint64_t bytes);

  // Gives every job and upload of `from` to `to` (an API key identity changed its form); returns how many.
  int rename_owner(std::string_view from, std::string_view to);

  // At server start, after requeue_interrupted: queued jobs whose runs were lost with their server
  // `max_lost_runs` times are failed with `body` (a poison job ends instead of killing every server).
  std::vector<std::string> fail_lost_jobs(int max_lost_runs, std::string_view body, int http_status);

  // `owner`'s jobs, newest first, `limit` of them, before the sequence `before` (0: from the newest).
  JobPage list_jobs(std::string_view owner, JobListFilter filter, int limit, int64_t before) const;
  // Usage per key of the jobs finished in [from_ms, to_ms), ordered by key; `owner` empty: every key.
  std::vector<KeyUsage> usage(int64_t from_ms, int64_t to_ms, std::optional<std::string> owner = {}) const;
  // How many of `owner`'s jobs are queued and how many running (the key's limits).
  std::pair<int64_t, int64_t> active_jobs(std::string_view owner) const;
  // Status counts of every job (the metrics' "jobs by state").
  std::vector<std::pair<StoredJobStatus, int64_t>> status_counts() const;

  // Deletion (DELETE .../requests/{id}, retention): the job's published files and previews are revoked
  // and deleted_ms set; its record stays for the ledger. The caller removes the folder. False when the
  // job is not finished (or unknown).
  bool mark_deleted(std::string_view id);
  // Finished jobs whose data is still there, finished before `before_ms` (retention).
  std::vector<std::string> finished_before(int64_t before_ms) const;
  // Uploads made before `before_ms` that no queued or running job names (retention), and their removal.
  std::vector<StoredUpload> uploads_before(int64_t before_ms) const;
  void delete_upload(std::string_view id);

  // Changes this process made, for watchers that sleep until their job changes (status streams).
  const JobChanges& changes() const { return changes_; }

 private:
  struct Database;
  std::unique_ptr<Database> db_;
  JobChanges changes_;
};

// 128 random bits from the operating system's generator as 32 lower-case hex digits.
std::string random_token();
// A random version-4 UUID ("3f0c8a2e-...-..."), the shape of the hosted queue's request ids.
std::string random_uuid();
// Milliseconds since the Unix epoch.
int64_t now_ms();

// Why `owner` cannot try the LoRA of job `id` in a try-it job: unknown or another key's, not a training
// job, not succeeded, or its data deleted; a 422 problem at ["body", "request_id"]. nullopt when it can.
std::optional<core::Problem> trained_lora_problem(const JobStore& store, std::string_view owner,
                                                  std::string_view id);

}  // namespace avtrain::service
