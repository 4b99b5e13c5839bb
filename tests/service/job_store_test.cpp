// The server's job store (issue 13): submission order, atomic claims, restarts that lose nothing,
// finish/cancel rules, logs, published files, webhooks and SQLite failures as InternalError.
#include "service/job_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "core/error.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

JobSubmission submission(const std::string& owner, const std::string& webhook_url = "") {
  return {owner, R"({"steps": 300, "prompt": "a dancer"})", webhook_url};
}

// Runs `body` expecting a core::InternalError and returns its message.
template <typename Body>
std::string internal_error_message(Body body) {
  try {
    body();
  } catch (const core::InternalError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected core::InternalError, got " << error.what();
    return {};
  }
  ADD_FAILURE() << "expected core::InternalError, nothing was thrown";
  return {};
}

TEST(JobStore, SubmitThenFindRoundTripsEveryField) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const int64_t before = now_ms();
  const std::string id =
      store.submit({"key-alice", R"({"prompt": "caf\u00e9 ✓"})", "https://hooks.example/x"});
  const int64_t after = now_ms();

  const auto job = store.find(id);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->id, id);
  EXPECT_EQ(job->owner, "key-alice");
  EXPECT_EQ(job->request_json, R"({"prompt": "caf\u00e9 ✓"})");
  EXPECT_EQ(job->webhook_url, "https://hooks.example/x");
  EXPECT_EQ(job->status, StoredJobStatus::queued);
  EXPECT_EQ(job->stage, "");
  EXPECT_EQ(job->progress, 0);
  EXPECT_EQ(job->message, "");
  EXPECT_FALSE(job->cancel_requested);
  EXPECT_GE(job->submitted_ms, before);
  EXPECT_LE(job->submitted_ms, after);
  EXPECT_EQ(job->started_ms, 0);
  EXPECT_EQ(job->finished_ms, 0);
  EXPECT_EQ(job->attempts, 0);
  EXPECT_EQ(job->result_json, "");
  EXPECT_EQ(job->http_status, 0);
  EXPECT_FALSE(job->webhook_delivered);

  store.update_progress(id, "training", 0.625, "step 120/300");
  const auto claimed = store.claim_next();
  ASSERT_TRUE(claimed.has_value());
  EXPECT_TRUE(store.finish(id, StoredJobStatus::succeeded, R"({"lora_file": {"url": "u"}})", 200));
  const auto done = store.find(id);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->stage, "training");
  EXPECT_DOUBLE_EQ(done->progress, 0.625);
  EXPECT_EQ(done->message, "step 120/300");
  EXPECT_EQ(done->status, StoredJobStatus::succeeded);
  EXPECT_EQ(done->result_json, R"({"lora_file": {"url": "u"}})");
  EXPECT_EQ(done->http_status, 200);
  EXPECT_GE(done->started_ms, done->submitted_ms);
  EXPECT_GE(done->finished_ms, done->started_ms);
  EXPECT_EQ(done->attempts, 1);

  EXPECT_FALSE(store.find("00000000-0000-4000-8000-000000000000").has_value());
}

TEST(JobStore, EmptyTextsStayEmptyNotNull) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string id = store.submit({std::string(), std::string(), std::string()});
  store.update_progress(id, std::string_view(), 0.5, std::string_view());
  const auto job = store.find(id);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->owner, "");
  EXPECT_EQ(job->webhook_url, "");
  EXPECT_EQ(job->stage, "");
}

TEST(JobStore, QueuePositionsCountQueuedJobsSubmittedBefore) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string first = store.submit(submission("a"));
  const std::string second = store.submit(submission("b"));
  const std::string third = store.submit(submission("c"));
  EXPECT_EQ(store.queue_position(first), 0);
  EXPECT_EQ(store.queue_position(second), 1);
  EXPECT_EQ(store.queue_position(third), 2);

  ASSERT_TRUE(store.claim_next().has_value());  // first runs
  EXPECT_FALSE(store.queue_position(first).has_value());
  EXPECT_EQ(store.queue_position(second), 0);
  EXPECT_EQ(store.queue_position(third), 1);

  EXPECT_EQ(store.request_cancel(second, R"({"detail": "cancelled"})", 499), StoredJobStatus::cancelled);
  EXPECT_EQ(store.queue_position(third), 0);
  EXPECT_FALSE(store.queue_position(second).has_value());
  EXPECT_FALSE(store.queue_position("no-such-job").has_value());
}

TEST(JobStore, ClaimsInSubmissionOrderAndNothingWhenEmpty) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  EXPECT_FALSE(store.claim_next().has_value());
  std::vector<std::string> ids;
  for (int job_idx = 0; job_idx < 5; ++job_idx) ids.push_back(store.submit(submission("o")));
  for (const auto& id : ids) {
    const auto job = store.claim_next();
    ASSERT_TRUE(job.has_value());
    EXPECT_EQ(job->id, id);
    EXPECT_EQ(job->status, StoredJobStatus::running);
    EXPECT_EQ(job->attempts, 1);
    EXPECT_GT(job->started_ms, 0);
  }
  EXPECT_FALSE(store.claim_next().has_value());
}

// Claims from `stores` on `threads_per_store` threads each until the queue is empty.
std::vector<std::string> claim_concurrently(const std::vector<JobStore*>& stores, int threads_per_store) {
  std::mutex claimed_mutex;
  std::vector<std::string> claimed;
  std::vector<std::thread> threads;
  for (JobStore* store : stores) {
    for (int thread_idx = 0; thread_idx < threads_per_store; ++thread_idx) {
      threads.emplace_back([store, &claimed_mutex, &claimed] {
        while (const auto job = store->claim_next()) {
          const std::lock_guard lock(claimed_mutex);
          claimed.push_back(job->id);
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  return claimed;
}

TEST(JobStore, ConcurrentClaimsTakeEveryJobExactlyOnce) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  std::set<std::string> submitted;
  for (int job_idx = 0; job_idx < 50; ++job_idx) submitted.insert(store.submit(submission("o")));

  const auto claimed = claim_concurrently({&store}, 4);
  EXPECT_EQ(claimed.size(), 50u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), submitted);
  for (const auto& id : submitted) EXPECT_EQ(store.find(id)->attempts, 1) << id;
}

// Two stores on one file are two SQLite connections: BEGIN IMMEDIATE, not the in-process mutex,
// keeps their claims apart (as with two server processes sharing a data folder).
TEST(JobStore, ClaimsThroughTwoConnectionsNeverShareAJob) {
  const TempDir dir;
  JobStore first(dir / "jobs.sqlite3");
  JobStore second(dir / "jobs.sqlite3");
  std::set<std::string> submitted;
  for (int job_idx = 0; job_idx < 50; ++job_idx) submitted.insert(first.submit(submission("o")));

  const auto claimed = claim_concurrently({&first, &second}, 2);
  EXPECT_EQ(claimed.size(), 50u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), submitted);
}

TEST(JobStore, ReopenedStoreKeepsEverythingAndRequeuesTheRunningJobAtItsPlace) {
  const TempDir dir;
  const fs::path file = dir / "jobs.sqlite3";
  std::string first, second, third, token;
  {
    JobStore store(file);
    first = store.submit(submission("a", "https://hooks.example/a"));
    second = store.submit(submission("b"));
    third = store.submit(submission("c"));
    ASSERT_EQ(store.claim_next()->id, first);
    store.update_progress(first, "encoding", 0.25, "pair 3/12");
    store.append_log(first, {0, 1000, "info", "encoding 12 pairs"});
    token = store.publish_file(first, dir / "outputs" / "preview.mp4", "preview.mp4", "video/mp4");
  }  // the server dies with `first` running

  JobStore store(file);
  const auto running = store.find(first);
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(running->status, StoredJobStatus::running);
  EXPECT_EQ(running->owner, "a");
  EXPECT_EQ(running->webhook_url, "https://hooks.example/a");
  EXPECT_EQ(running->stage, "encoding");
  EXPECT_EQ(running->message, "pair 3/12");
  EXPECT_EQ(store.queue_position(second), 0);
  ASSERT_EQ(store.logs(first).size(), 1u);
  EXPECT_EQ(store.logs(first)[0].message, "encoding 12 pairs");
  ASSERT_TRUE(store.file(token).has_value());

  EXPECT_EQ(store.requeue_interrupted(), 1);
  EXPECT_EQ(store.requeue_interrupted(), 0);
  EXPECT_EQ(store.find(first)->status, StoredJobStatus::queued);
  EXPECT_EQ(store.queue_position(first), 0);
  EXPECT_EQ(store.queue_position(second), 1);
  EXPECT_EQ(store.queue_position(third), 2);

  const auto resumed = store.claim_next();
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->id, first);
  EXPECT_EQ(resumed->attempts, 2);
  EXPECT_EQ(store.claim_next()->id, second);
}

TEST(JobStore, RequeuedJobReturnsBehindEarlierAndAheadOfLaterJobs) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string first = store.submit(submission("a"));
  const std::string second = store.submit(submission("b"));
  ASSERT_EQ(store.claim_next()->id, first);
  ASSERT_EQ(store.claim_next()->id, second);
  const std::string third = store.submit(submission("c"));
  ASSERT_TRUE(store.finish(first, StoredJobStatus::failed, R"({"detail": "x"})", 500));

  EXPECT_EQ(store.requeue_interrupted(), 1);  // only `second` was running
  EXPECT_EQ(store.queue_position(second), 0);
  EXPECT_EQ(store.queue_position(third), 1);
  EXPECT_EQ(store.find(first)->status, StoredJobStatus::failed);
}

TEST(JobStore, FinishChangesAJobOnlyOnce) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string id = store.submit(submission("o"));
  ASSERT_TRUE(store.claim_next().has_value());
  EXPECT_TRUE(store.finish(id, StoredJobStatus::failed, R"({"detail": "out of memory"})", 500));
  EXPECT_FALSE(store.finish(id, StoredJobStatus::succeeded, R"({"lora_file": {}})", 200));
  const auto job = store.find(id);
  EXPECT_EQ(job->status, StoredJobStatus::failed);
  EXPECT_EQ(job->result_json, R"({"detail": "out of memory"})");
  EXPECT_EQ(job->http_status, 500);

  EXPECT_FALSE(store.finish("no-such-job", StoredJobStatus::failed, "{}", 500));
  // A queued job can be finished too (rejected before it ran).
  const std::string queued = store.submit(submission("o"));
  EXPECT_TRUE(store.finish(queued, StoredJobStatus::failed, R"({"detail": []})", 422));
  EXPECT_FALSE(store.claim_next().has_value());
}

TEST(JobStore, FinishRefusesAStatusThatIsNotAnEnd) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string id = store.submit(submission("o"));
  const auto message = internal_error_message([&] { store.finish(id, StoredJobStatus::running, "{}", 200); });
  EXPECT_NE(message.find("running"), std::string::npos) << message;
  EXPECT_EQ(store.find(id)->status, StoredJobStatus::queued);
}

TEST(JobStore, CancelFinishesQueuedFlagsRunningAndIgnoresFinishedOrUnknown) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string running = store.submit(submission("o"));
  const std::string queued = store.submit(submission("o"));
  ASSERT_EQ(store.claim_next()->id, running);
  const std::string body = R"({"detail": [{"loc": ["body"], "msg": "cancelled", "type": "cancelled"}]})";

  EXPECT_EQ(store.request_cancel(queued, body, 499), StoredJobStatus::cancelled);
  const auto cancelled = store.find(queued);
  EXPECT_EQ(cancelled->status, StoredJobStatus::cancelled);
  EXPECT_EQ(cancelled->result_json, body);
  EXPECT_EQ(cancelled->http_status, 499);
  EXPECT_GT(cancelled->finished_ms, 0);
  EXPECT_FALSE(store.claim_next().has_value());  // a cancelled queued job never runs

  EXPECT_EQ(store.request_cancel(running, body, 499), StoredJobStatus::running);
  const auto flagged = store.find(running);
  EXPECT_EQ(flagged->status, StoredJobStatus::running);
  EXPECT_TRUE(flagged->cancel_requested);
  EXPECT_EQ(flagged->result_json, "");

  EXPECT_FALSE(store.request_cancel(queued, body, 499).has_value());  // finished
  EXPECT_FALSE(store.request_cancel("no-such-job", body, 499).has_value());
  ASSERT_TRUE(store.finish(running, StoredJobStatus::cancelled, body, 499));
  EXPECT_FALSE(store.request_cancel(running, body, 499).has_value());
}

TEST(JobStore, LogsAfterASequenceComeInOrderAsWritten) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string id = store.submit(submission("o"));
  const std::string other = store.submit(submission("o"));
  store.append_log(id, {0, 1000, "info", "downloading clips.zip"});
  store.append_log(other, {0, 1001, "info", "another job"});
  store.append_log(id, {0, 1002, "warn", "dance_07: skipped – target lasts 1.20 s, needs 2.00 s ✓"});
  store.append_log(id, {0, 0, "error", "out of memory"});

  const auto all = store.logs(id);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].message, "downloading clips.zip");
  EXPECT_EQ(all[0].level, "info");
  EXPECT_EQ(all[0].timestamp_ms, 1000);
  EXPECT_EQ(all[1].message, "dance_07: skipped – target lasts 1.20 s, needs 2.00 s ✓");
  EXPECT_EQ(all[1].level, "warn");
  EXPECT_LT(all[0].sequence, all[1].sequence);
  EXPECT_LT(all[1].sequence, all[2].sequence);
  EXPECT_GT(all[2].timestamp_ms, 1002);  // 0 means "now"

  const auto later = store.logs(id, all[0].sequence);
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0].sequence, all[1].sequence);
  EXPECT_EQ(later[1].message, "out of memory");
  EXPECT_TRUE(store.logs(id, all[2].sequence).empty());
  EXPECT_TRUE(store.logs("no-such-job").empty());
}

TEST(JobStore, PublishedFileIsFoundByItsTokenOnly) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string id = store.submit(submission("o"));
  const fs::path path = dir / "jobs" / id / "outputs" / "lora.safetensors";
  const std::string token = store.publish_file(id, path, "lora.safetensors", "application/octet-stream");
  EXPECT_TRUE(std::regex_match(token, std::regex("[0-9a-f]{32}"))) << token;

  const auto file = store.file(token);
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->token, token);
  EXPECT_EQ(file->job_id, id);
  EXPECT_EQ(file->path, path);
  EXPECT_EQ(file->file_name, "lora.safetensors");
  EXPECT_EQ(file->content_type, "application/octet-stream");
  EXPECT_FALSE(store.file(std::string(32, '0')).has_value());
  EXPECT_FALSE(store.file("").has_value());
}

TEST(JobStore, TokensAre32HexDigitsAndDiffer) {
  std::set<std::string> tokens;
  for (int token_idx = 0; token_idx < 100; ++token_idx) {
    const std::string token = random_token();
    EXPECT_TRUE(std::regex_match(token, std::regex("[0-9a-f]{32}"))) << token;
    tokens.insert(token);
  }
  EXPECT_EQ(tokens.size(), 100u);
}

TEST(JobStore, UuidsAreVersion4WithTheRfcVariant) {
  const std::regex shape("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> uuids;
  for (int uuid_idx = 0; uuid_idx < 100; ++uuid_idx) {
    const std::string uuid = random_uuid();
    EXPECT_TRUE(std::regex_match(uuid, shape)) << uuid;
    EXPECT_EQ(uuid[14], '4') << uuid;
    uuids.insert(uuid);
  }
  EXPECT_EQ(uuids.size(), 100u);
}

TEST(JobStore, NowIsUnixMilliseconds) {
  const int64_t now = now_ms();
  EXPECT_GT(now, int64_t{1'700'000'000'000});  // after November 2023
  EXPECT_LT(now, int64_t{4'100'000'000'000});  // before 2100
}

TEST(JobStore, PendingWebhooksListFinishedUndeliveredJobsInFinishOrder) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string no_hook = store.submit(submission("o"));
  const std::string late = store.submit(submission("o", "https://hooks.example/late"));
  const std::string early = store.submit(submission("o", "https://hooks.example/early"));
  const std::string unfinished = store.submit(submission("o", "https://hooks.example/running"));
  EXPECT_TRUE(store.pending_webhooks().empty());

  ASSERT_TRUE(store.finish(no_hook, StoredJobStatus::succeeded, "{}", 200));
  ASSERT_TRUE(store.finish(early, StoredJobStatus::succeeded, R"({"ok": 1})", 200));
  std::this_thread::sleep_for(std::chrono::milliseconds(3));  // distinct finished_ms
  ASSERT_EQ(store.request_cancel(late, R"({"detail": "cancelled"})", 499), StoredJobStatus::cancelled);

  auto pending = store.pending_webhooks();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, early);
  EXPECT_EQ(pending[0].webhook_url, "https://hooks.example/early");
  EXPECT_EQ(pending[0].result_json, R"({"ok": 1})");
  EXPECT_EQ(pending[1].id, late);
  EXPECT_EQ(pending[1].http_status, 499);

  store.mark_webhook_delivered(early);
  EXPECT_TRUE(store.find(early)->webhook_delivered);
  pending = store.pending_webhooks();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, late);
  store.mark_webhook_delivered(late);
  EXPECT_TRUE(store.pending_webhooks().empty());
  EXPECT_FALSE(store.find(unfinished)->webhook_delivered);
}

TEST(JobStore, CorruptDatabaseFileIsAnInternalErrorNamingThePath) {
  const TempDir dir;
  const fs::path file = dir / "jobs.sqlite3";
  {
    std::ofstream out(file, std::ios::binary);
    for (int line_idx = 0; line_idx < 200; ++line_idx)
      out << "this is not an SQLite database, line " << line_idx << "\n";
  }
  const auto contents = [&] {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = contents();
  const auto message = internal_error_message([&] { JobStore store(file); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("not a database"), std::string::npos) << message;
  EXPECT_NE(message.find("move it away"), std::string::npos) << message;
  EXPECT_EQ(contents(), before) << "the refused file was written to";
  EXPECT_FALSE(fs::exists(dir / "jobs.sqlite3-wal"));
}

TEST(JobStore, RefusesADatabaseOfANewerSchema) {
  const TempDir dir;
  const fs::path file = dir / "jobs.sqlite3";
  { JobStore store(file); }  // closing the last connection checkpoints the WAL into the file
  {
    // PRAGMA user_version is the big-endian 32-bit integer at offset 60 of the file header.
    std::fstream header(file, std::ios::binary | std::ios::in | std::ios::out);
    header.seekp(60);
    const char version[4] = {0, 0, 0, 99};
    header.write(version, 4);
  }
  const auto message = internal_error_message([&] { JobStore store(file); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("schema version 99"), std::string::npos) << message;
  EXPECT_NE(message.find("newer avtrain"), std::string::npos) << message;
}

// The first wave's schema (version 1), as a store written then holds it.
constexpr const char* kVersion1Schema = R"sql(
CREATE TABLE jobs (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
  request_json TEXT NOT NULL, webhook_url TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  stage TEXT NOT NULL DEFAULT '', progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0, submitted_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0, result_json TEXT NOT NULL DEFAULT '',
  http_status INTEGER NOT NULL DEFAULT 0, webhook_delivered INTEGER NOT NULL DEFAULT 0);
CREATE INDEX jobs_by_status ON jobs (status, sequence);
CREATE TABLE log_lines (sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE, timestamp_ms INTEGER NOT NULL,
  level TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE files (token TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  path TEXT NOT NULL, file_name TEXT NOT NULL, content_type TEXT NOT NULL);
INSERT INTO jobs (id, owner, request_json, webhook_url, status, submitted_ms)
  VALUES ('11111111-1111-4111-8111-111111111111', 'key-0123456789abcdef', '{}', '', 'queued', 1);
PRAGMA user_version = 1;
)sql";

TEST(JobStore, MigratesAVersion1StoreKeepingItsJobs) {
  const TempDir dir;
  const fs::path file = dir / "jobs.sqlite3";
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &raw), SQLITE_OK);
    char* error = nullptr;
    const int code = sqlite3_exec(raw, kVersion1Schema, nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(raw);
    ASSERT_EQ(code, SQLITE_OK) << message;
  }
  JobStore store(file);
  const auto old_job = store.find("11111111-1111-4111-8111-111111111111");
  ASSERT_TRUE(old_job.has_value());
  EXPECT_EQ(old_job->owner, "key-0123456789abcdef");
  EXPECT_TRUE(old_job->notes.empty());
  EXPECT_EQ(old_job->start_deadline_ms, 0);
  EXPECT_FALSE(old_job->no_retry);
  // The tables of version 2 are there.
  store.add_preview(old_job->id, {5, "t", "step_5.mp4", 10});
  EXPECT_EQ(store.previews(old_job->id).size(), 1u);
  EXPECT_EQ(store.rename_owner("key-0123456789abcdef", "key-new"), 1);
  EXPECT_EQ(store.find(old_job->id)->owner, "key-new");
  // And those of version 3.
  store.update_progress(old_job->id, "downloading", 0.1, "");
  EXPECT_EQ(store.stage_starts(old_job->id).size(), 1u);
}

TEST(JobStore, NotesDeadlineAndNoRetryRoundTrip) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  JobSubmission with_all = submission("key-a");
  with_all.notes = {"unknown field rnak was ignored: did you mean rank?", "caf\u00e9 \u2713"};
  with_all.start_deadline_ms = 4102444800000;
  with_all.no_retry = true;
  const auto job = store.find(store.submit(with_all));
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->notes, with_all.notes);
  EXPECT_EQ(job->start_deadline_ms, 4102444800000);
  EXPECT_TRUE(job->no_retry);
  EXPECT_EQ(store.next_start_deadline(), 4102444800000);
}

TEST(JobStore, JobsPastTheirStartDeadlineFailAndAreNeverClaimed) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const int64_t now = now_ms();
  JobSubmission overdue = submission("key-a"), later = submission("key-a"), plain = submission("key-a");
  overdue.start_deadline_ms = now - 1;
  later.start_deadline_ms = now + 3'600'000;
  const std::string overdue_id = store.submit(overdue);
  const std::string later_id = store.submit(later);
  const std::string plain_id = store.submit(plain);
  EXPECT_EQ(store.next_start_deadline(), overdue.start_deadline_ms);
  // Claims skip the overdue job even before it is expired.
  const auto claimed = store.claim_next();
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->id, later_id);
  const auto expired = store.expire_unstarted(now, R"({"error_type": "request_timeout"})", 504);
  EXPECT_EQ(expired, std::vector<std::string>{overdue_id});
  const auto failed = store.find(overdue_id);
  EXPECT_EQ(failed->status, StoredJobStatus::failed);
  EXPECT_EQ(failed->http_status, 504);
  EXPECT_EQ(failed->result_json, R"({"error_type": "request_timeout"})");
  // A started job is past any deadline's reach; a job without one never expires.
  EXPECT_TRUE(store.expire_unstarted(now + 7'200'000, "{}", 504).empty());
  EXPECT_EQ(store.find(later_id)->status, StoredJobStatus::running);
  EXPECT_EQ(store.find(plain_id)->status, StoredJobStatus::queued);
  EXPECT_EQ(store.next_start_deadline(), 0);
}

TEST(JobStore, InterruptedJobsThatAskedForNoRetryFailTheOthersRequeue) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  JobSubmission no_retry = submission("key-a");
  no_retry.no_retry = true;
  const std::string once = store.submit(no_retry);
  const std::string again = store.submit(submission("key-a"));
  ASSERT_TRUE(store.claim_next() && store.claim_next());
  EXPECT_EQ(store.fail_interrupted_without_retry(R"({"error_type": "runner_disconnected"})", 503),
            std::vector<std::string>{once});
  EXPECT_EQ(store.requeue_interrupted(), 1);
  EXPECT_EQ(store.find(once)->status, StoredJobStatus::failed);
  EXPECT_EQ(store.find(once)->http_status, 503);
  EXPECT_EQ(store.find(again)->status, StoredJobStatus::queued);
}

TEST(JobStore, RequeueGivesARunningJobBackAtItsPlace) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string first = store.submit(submission("key-a"));
  const std::string second = store.submit(submission("key-a"));
  ASSERT_EQ(store.claim_next()->id, first);
  store.requeue(first);
  EXPECT_EQ(store.find(first)->status, StoredJobStatus::queued);
  EXPECT_EQ(store.queue_position(first), 0);
  EXPECT_EQ(store.queue_position(second), 1);
}

TEST(JobStore, PreviewsAreListedInStepOrderOncePerStep) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string id = store.submit(submission("key-a"));
  store.add_preview(id, {20, "token-20", "step_20.mp4", 2000});
  store.add_preview(id, {10, "token-10", "step_10.mp4", 1000});
  store.add_preview(id, {10, "token-again", "step_10.mp4", 1});  // a resumed run reports it again
  const auto previews = store.previews(id);
  ASSERT_EQ(previews.size(), 2u);
  EXPECT_EQ(previews[0].step, 10);
  EXPECT_EQ(previews[0].token, "token-10");
  EXPECT_EQ(previews[0].file_size, 1000u);
  EXPECT_EQ(previews[1].step, 20);
  EXPECT_TRUE(store.previews(store.submit(submission("key-a"))).empty());
}

TEST(JobStore, EachStageKeepsTheTimeItFirstStartedInOrder) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const std::string id = store.submit(submission("key-a"));
  EXPECT_TRUE(store.stage_starts(id).empty());
  const int64_t before = now_ms();
  store.update_progress(id, "", 0, "");  // no stage yet: nothing recorded
  store.update_progress(id, "downloading", 0.01, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  store.update_progress(id, "training", 0.5, "step 1/2");
  const int64_t training_started = store.stage_starts(id).back().started_ms;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  store.update_progress(id, "training", 0.7, "step 2/2");  // a later update of the same stage
  const auto starts = store.stage_starts(id);
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0].stage, "downloading");
  EXPECT_EQ(starts[1].stage, "training");
  EXPECT_GE(starts[0].started_ms, before);
  EXPECT_GT(starts[1].started_ms, starts[0].started_ms);
  EXPECT_EQ(starts[1].started_ms, training_started);
}

TEST(JobStore, UploadsAreFoundByIdOrUploadTokenAndComplete) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  StoredUpload upload;
  upload.id = random_token();
  upload.upload_token = random_token();
  upload.owner = "key-a";
  upload.file_name = "clips.zip";
  upload.content_type = "application/zip";
  upload.multipart = true;
  upload.created_ms = now_ms();
  store.add_upload(upload);
  const auto by_token = store.upload_by_token(upload.upload_token);
  ASSERT_TRUE(by_token.has_value());
  EXPECT_EQ(by_token->id, upload.id);
  EXPECT_TRUE(by_token->multipart);
  EXPECT_FALSE(by_token->complete);
  EXPECT_FALSE(store.upload(upload.upload_token).has_value()) << "the upload token is not the file's id";
  store.complete_upload(upload.id, 123456789012);
  const auto done = store.upload(upload.id);
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->complete);
  EXPECT_EQ(done->bytes, 123456789012u);
  EXPECT_EQ(done->owner, "key-a");
  EXPECT_EQ(store.rename_owner("key-a", "key-b"), 1);
  EXPECT_EQ(store.upload(upload.id)->owner, "key-b");
}

TEST(JobStore, LogLineOfAnUnknownJobIsAnInternalError) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  const auto message = internal_error_message([&] { store.append_log("no-such-job", {0, 1, "info", "x"}); });
  EXPECT_NE(message.find("append a log line"), std::string::npos) << message;
  EXPECT_NE(message.find("FOREIGN KEY"), std::string::npos) << message;
}

TEST(JobStore, StatusNamesAndEnds) {
  EXPECT_EQ(to_string(StoredJobStatus::queued), "queued");
  EXPECT_EQ(to_string(StoredJobStatus::running), "running");
  EXPECT_EQ(to_string(StoredJobStatus::succeeded), "succeeded");
  EXPECT_EQ(to_string(StoredJobStatus::failed), "failed");
  EXPECT_EQ(to_string(StoredJobStatus::cancelled), "cancelled");
  EXPECT_FALSE(is_finished(StoredJobStatus::queued));
  EXPECT_FALSE(is_finished(StoredJobStatus::running));
  EXPECT_TRUE(is_finished(StoredJobStatus::succeeded));
  EXPECT_TRUE(is_finished(StoredJobStatus::failed));
  EXPECT_TRUE(is_finished(StoredJobStatus::cancelled));
}

}  // namespace
}  // namespace avtrain::service
