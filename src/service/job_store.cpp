#include "service/job_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;

// The schema this build writes and reads (PRAGMA user_version). A change of the tables gets a new
// version and a migration from the older ones (kMigrations).
constexpr int kSchemaVersion = 3;

// sqlite3_close_v2 defers the close until the last statement is finalized, so the order in which
// RAII handles die does not matter.
struct ConnectionCloser {
  void operator()(sqlite3* connection) const { sqlite3_close_v2(connection); }
};
using ConnectionPtr = std::unique_ptr<sqlite3, ConnectionCloser>;
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// Jobs in submission order: `sequence` is AUTOINCREMENT, so a number is never reused and a requeued
// job keeps its place. Status is stored as its name so the file reads well in the sqlite3 shell.
constexpr const char* kCreateSchema = R"sql(
CREATE TABLE jobs (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  request_json TEXT NOT NULL,
  webhook_url TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  stage TEXT NOT NULL DEFAULT '',
  progress REAL NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  submitted_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  result_json TEXT NOT NULL DEFAULT '',
  http_status INTEGER NOT NULL DEFAULT 0,
  webhook_delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_status ON jobs (status, sequence);
CREATE TABLE log_lines (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  timestamp_ms INTEGER NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX log_lines_by_job ON log_lines (job_id, sequence);
CREATE TABLE files (
  token TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  file_name TEXT NOT NULL,
  content_type TEXT NOT NULL
);
)sql";

// Version 1 -> 2: the request check's notes, the start deadline and no-retry of the hosted queue's
// headers, runs lost with their server (poison jobs), billed units and deletion for the usage ledger,
// validation previews and uploads.
constexpr const char* kMigrationTo2 = R"sql(
ALTER TABLE jobs ADD COLUMN notes_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN start_deadline_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN no_retry INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lost_runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN billing_units INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN deleted_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_owner ON jobs (owner, sequence);
CREATE INDEX jobs_by_finish ON jobs (finished_ms);
CREATE TABLE previews (
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  token TEXT NOT NULL,
  file_name TEXT NOT NULL,
  file_size INTEGER NOT NULL,
  PRIMARY KEY (job_id, step)
);
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  upload_token TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  file_name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  multipart INTEGER NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL
);
)sql";

// Version 2 -> 3: when each stage of a job first started (the dashboard's stage timeline), and what the
// job does (training, or a try-it inference with a trained LoRA).
constexpr const char* kMigrationTo3 = R"sql(
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'training' CHECK (kind IN ('training', 'inference'));
CREATE TABLE stage_starts (
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  stage TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  PRIMARY KEY (job_id, stage)
);
)sql";

// kMigrations[v] brings a version-v database to version v + 1 (version 0: an empty file).
constexpr std::array<const char*, kSchemaVersion> kMigrations = {kCreateSchema, kMigrationTo2, kMigrationTo3};

// The columns read_job expects, in its order.
constexpr const char* kJobColumns =
    "id, owner, request_json, webhook_url, status, stage, progress, message, cancel_requested, "
    "submitted_ms, started_ms, finished_ms, attempts, result_json, http_status, webhook_delivered, "
    "notes_json, start_deadline_ms, no_retry, sequence, lost_runs, billing_units, deleted_ms, kind";

StoredJobStatus status_from_text(std::string_view text, const std::string& database_file) {
  for (const auto status : {StoredJobStatus::queued, StoredJobStatus::running, StoredJobStatus::succeeded,
                            StoredJobStatus::failed, StoredJobStatus::cancelled}) {
    if (to_string(status) == text) return status;
  }
  throw core::InternalError(
      fmt::format("job store {}: a job has the unknown status '{}'; the file was changed "
                  "outside avtrain",
                  database_file, text));
}

void fill_random(unsigned char* bytes, size_t size) {
  size_t filled = 0;
  while (filled < size) {
    const ssize_t got = getrandom(bytes + filled, size - filled, 0);
    if (got > 0) {
      filled += static_cast<size_t>(got);
    } else if (got < 0 && errno == ENOSYS) {  // kernels before 3.17
      std::ifstream urandom("/dev/urandom", std::ios::binary);
      if (!urandom.read(reinterpret_cast<char*>(bytes + filled),
                        static_cast<std::streamsize>(size - filled))) {
        throw core::InternalError("cannot read random bytes from /dev/urandom");
      }
      return;
    } else if (got < 0 && errno != EINTR) {
      throw core::InternalError("getrandom(2) failed: " + std::system_category().message(errno));
    }
  }
}

template <size_t N>
std::array<unsigned char, N> random_bytes() {
  std::array<unsigned char, N> bytes{};
  fill_random(bytes.data(), bytes.size());
  return bytes;
}

void append_hex(std::string& out, const unsigned char* bytes, size_t size) {
  constexpr const char* kDigits = "0123456789abcdef";
  for (size_t byte_idx = 0; byte_idx < size; ++byte_idx) {
    out += kDigits[bytes[byte_idx] >> 4];
    out += kDigits[bytes[byte_idx] & 0x0f];
  }
}

}  // namespace

std::string_view to_string(StoredJobStatus status) {
  switch (status) {
    case StoredJobStatus::queued:
      return "queued";
    case StoredJobStatus::running:
      return "running";
    case StoredJobStatus::succeeded:
      return "succeeded";
    case StoredJobStatus::failed:
      return "failed";
    case StoredJobStatus::cancelled:
      return "cancelled";
  }
  return "unknown";
}

bool is_finished(StoredJobStatus status) {
  return status == StoredJobStatus::succeeded || status == StoredJobStatus::failed ||
         status == StoredJobStatus::cancelled;
}

std::string random_token() {
  const auto bytes = random_bytes<16>();
  std::string token;
  token.reserve(32);
  append_hex(token, bytes.data(), bytes.size());
  return token;
}

std::string random_uuid() {
  auto bytes = random_bytes<16>();
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4 (RFC 4122 §4.4)
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // variant 10xx
  std::string uuid;
  uuid.reserve(36);
  size_t begin = 0;
  for (const size_t group_bytes : {4, 2, 2, 2, 6}) {
    if (begin > 0) uuid += '-';
    append_hex(uuid, bytes.data() + begin, group_bytes);
    begin += group_bytes;
  }
  return uuid;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// The one connection and the mutex that serializes its users (workers, HTTP handlers, the webhook
// sender). Every method of JobStore holds `mutex` for its whole body, so a statement's error message
// (sqlite3_errmsg) is still the connection's own when it is read. The helpers below take it by this
// name because JobStore::Database is private.
struct StoreConnection {
  std::string file;  // for messages
  std::mutex mutex;
  ConnectionPtr connection;

  // An InternalError naming the file, the operation ("claim the next job") and SQLite's message.
  [[noreturn]] void fail(std::string_view operation, int code) const {
    const char* reason = connection ? sqlite3_errmsg(connection.get()) : sqlite3_errstr(code);
    std::string hint;
    const int primary = code & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
      hint =
          " The file is damaged or is not a job store: move it away (its jobs are lost) and start the "
          "server again to begin an empty one.";
    } else if (primary == SQLITE_FULL) {
      hint = " Free space on its disk.";
    } else if (primary == SQLITE_BUSY) {
      hint = " Another connection held the database for more than 5 s: run one server per data folder.";
    } else if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN || primary == SQLITE_PERM) {
      hint = " Check that the folder exists and is writable by the server.";
    }
    throw core::InternalError(
        fmt::format("job store {}: cannot {}: {} (SQLite code {}).{}", file, operation, reason, code, hint));
  }

  void execute(std::string_view operation, const char* sql) {
    const int code = sqlite3_exec(connection.get(), sql, nullptr, nullptr, nullptr);
    if (code != SQLITE_OK) fail(operation, code);
  }
};

// One prepared statement with bound parameters; values never enter the SQL text.
class Statement {
 public:
  Statement(const StoreConnection& db, std::string_view operation, std::string_view sql)
      : db_(db), operation_(operation) {
    sqlite3_stmt* raw = nullptr;
    const int code =
        sqlite3_prepare_v2(db.connection.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
    statement_.reset(raw);
    if (code != SQLITE_OK) db_.fail(operation_, code);
  }

  // Parameters are numbered from 1, as in SQLite.
  Statement& bind(int index, std::string_view text) {
    // A null data pointer would bind SQL NULL; "" is an empty text.
    const char* data = text.data() != nullptr ? text.data() : "";
    check(sqlite3_bind_text64(statement_.get(), index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
  }
  Statement& bind(int index, int64_t value) {
    check(sqlite3_bind_int64(statement_.get(), index, value));
    return *this;
  }
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value) {
    check(sqlite3_bind_double(statement_.get(), index, value));
    return *this;
  }

  // True while a row is available.
  bool step() {
    const int code = sqlite3_step(statement_.get());
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    db_.fail(operation_, code);
  }
  // Ends a read before its last row so that the transaction around it can commit.
  void reset() { sqlite3_reset(statement_.get()); }
  // Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }

  int64_t integer(int column) const { return sqlite3_column_int64(statement_.get(), column); }
  double real(int column) const { return sqlite3_column_double(statement_.get(), column); }
  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(statement_.get(), column));
    if (data == nullptr) return {};
    return std::string(data, static_cast<size_t>(sqlite3_column_bytes(statement_.get(), column)));
  }

 private:
  void check(int code) const {
    if (code != SQLITE_OK) db_.fail(operation_, code);
  }

  const StoreConnection& db_;
  std::string_view operation_;
  StatementPtr statement_;
};

// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write (claim, cancel) cannot interleave
// with another connection's. Destroyed without commit() it rolls back (a deleter never commits).
class WriteTransaction {
 public:
  WriteTransaction(StoreConnection& db, std::string_view operation) : db_(db), operation_(operation) {
    const int code = sqlite3_exec(db_.connection.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (code != SQLITE_OK) db_.fail(operation_, code);
  }
  ~WriteTransaction() {
    if (open_) sqlite3_exec(db_.connection.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  void commit() {
    const int code = sqlite3_exec(db_.connection.get(), "COMMIT", nullptr, nullptr, nullptr);
    if (code != SQLITE_OK) db_.fail(operation_, code);
    open_ = false;
  }

 private:
  StoreConnection& db_;
  std::string_view operation_;
  bool open_ = true;
};

// The units a result bills ({"billing": {"units": N}}); 0 when it names none.
int64_t billed_units(std::string_view body_json) {
  const auto body = nlohmann::json::parse(body_json, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return 0;
  const auto billing = body.find("billing");
  if (billing == body.end() || !billing->is_object()) return 0;
  const auto units = billing->find("units");
  return units != billing->end() && units->is_number_integer() ? units->get<int64_t>() : 0;
}

StoredJob read_job(const Statement& row, const std::string& database_file) {
  StoredJob job;
  job.id = row.text(0);
  job.owner = row.text(1);
  job.request_json = row.text(2);
  job.webhook_url = row.text(3);
  job.status = status_from_text(row.text(4), database_file);
  job.stage = row.text(5);
  job.progress = row.real(6);
  job.message = row.text(7);
  job.cancel_requested = row.integer(8) != 0;
  job.submitted_ms = row.integer(9);
  job.started_ms = row.integer(10);
  job.finished_ms = row.integer(11);
  job.attempts = static_cast<int>(row.integer(12));
  job.result_json = row.text(13);
  job.http_status = static_cast<int>(row.integer(14));
  job.webhook_delivered = row.integer(15) != 0;
  job.notes = nlohmann::json::parse(row.text(16)).get<std::vector<std::string>>();
  job.start_deadline_ms = row.integer(17);
  job.no_retry = row.integer(18) != 0;
  job.sequence = row.integer(19);
  job.lost_runs = static_cast<int>(row.integer(20));
  job.billing_units = row.integer(21);
  job.deleted_ms = row.integer(22);
  job.kind = row.text(23) == "inference" ? JobKind::inference : JobKind::training;
  return job;
}

std::optional<StoredJob> find_locked(const StoreConnection& db, std::string_view id) {
  Statement select(db, "read a job", fmt::format("SELECT {} FROM jobs WHERE id = ?", kJobColumns));
  select.bind(1, id);
  if (!select.step()) return std::nullopt;
  return read_job(select, db.file);
}

// Creates the tables in a fresh file, migrates an older schema; refuses a file written by a newer one.
void open_schema(StoreConnection& db) {
  WriteTransaction transaction(db, "create the schema");
  Statement version_query(db, "read the schema version", "PRAGMA user_version");
  const int64_t version = version_query.step() ? version_query.integer(0) : 0;
  version_query.reset();
  if (version > kSchemaVersion) {
    throw core::InternalError(fmt::format(
        "job store {}: the database has schema version {}, written by a newer avtrain; this build reads up "
        "to version {}. Run the newer avtrain, or point this server at another data folder.",
        db.file, version, kSchemaVersion));
  }
  for (int64_t from = version; from < kSchemaVersion; ++from) {
    db.execute(from == 0 ? "create the schema" : "migrate the schema",
               kMigrations[static_cast<size_t>(from)]);
  }
  if (version < kSchemaVersion) {
    // A PRAGMA takes no bound parameters; the value is this build's constant.
    db.execute("write the schema version", fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str());
    if (version > 0) {
      core::logger("service").info("job store {}: schema migrated from version {} to {}", db.file, version,
                                   kSchemaVersion);
    }
  }
  transaction.commit();
}

}  // namespace

struct JobStore::Database : StoreConnection {};

JobStore::JobStore(const fs::path& database_file) : db_(std::make_unique<Database>()) {
  db_->file = database_file.string();
  if (database_file.has_parent_path()) {
    std::error_code error;
    fs::create_directories(database_file.parent_path(), error);
    if (error) {
      throw core::InternalError(
          fmt::format("job store {}: cannot create its folder: {}", db_->file, error.message()));
    }
  }
  sqlite3* raw = nullptr;
  const int code =
      sqlite3_open_v2(db_->file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  db_->connection.reset(raw);  // closed by the deleter even when the open failed
  if (code != SQLITE_OK) db_->fail("open the database", code);
  sqlite3_extended_result_codes(db_->connection.get(), 1);
  // Several processes (a second server, the sqlite3 shell) wait up to 5 s for a lock instead of failing.
  sqlite3_busy_timeout(db_->connection.get(), 5000);

  // WAL lets HTTP handlers read while a worker writes; NORMAL syncs at checkpoints, which in WAL mode
  // keeps the database consistent after a power loss (the last commits may be lost, never corrupted).
  Statement journal(*db_, "switch to WAL journal mode", "PRAGMA journal_mode = WAL");
  const std::string mode = journal.step() ? journal.text(0) : std::string();
  journal.reset();
  if (mode != "wal") {
    core::logger("service").warn("job store {}: SQLite kept journal mode '{}' instead of WAL", db_->file,
                                 mode);
  }
  db_->execute("set synchronous = NORMAL", "PRAGMA synchronous = NORMAL");
  db_->execute("enable foreign keys", "PRAGMA foreign_keys = ON");
  open_schema(*db_);
}

JobStore::~JobStore() = default;

std::string_view to_string(JobKind kind) { return kind == JobKind::inference ? "inference" : "training"; }

std::string JobStore::submit(const JobSubmission& submission) {
  const std::lock_guard lock(db_->mutex);
  const std::string id = random_uuid();
  Statement insert(
      *db_, "submit a job",
      "INSERT INTO jobs (id, owner, request_json, webhook_url, status, submitted_ms, notes_json, "
      "start_deadline_ms, no_retry, kind) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)");
  insert.bind(1, id)
      .bind(2, submission.owner)
      .bind(3, submission.request_json)
      .bind(4, submission.webhook_url);
  insert.bind(5, now_ms()).bind(6, core::json_text(nlohmann::json(submission.notes)));
  insert.bind(7, submission.start_deadline_ms).bind(8, submission.no_retry ? 1 : 0);
  insert.bind(9, to_string(submission.kind));
  insert.run();
  return id;
}

std::optional<StoredJob> JobStore::find(std::string_view id) const {
  const std::lock_guard lock(db_->mutex);
  return find_locked(*db_, id);
}

std::optional<int64_t> JobStore::queue_position(std::string_view id) const {
  const std::lock_guard lock(db_->mutex);
  // Requeued jobs keep their sequence, so "queued before" is "queued with a smaller sequence".
  Statement select(*db_, "read a job's queue position",
                   "SELECT (SELECT COUNT(*) FROM jobs AS earlier "
                   "        WHERE earlier.status = 'queued' AND earlier.sequence < job.sequence) "
                   "FROM jobs AS job WHERE job.id = ? AND job.status = 'queued'");
  select.bind(1, id);
  if (!select.step()) return std::nullopt;
  return select.integer(0);
}

std::optional<StoredJob> JobStore::claim_next(const MayStart& may_start) {
  const std::lock_guard lock(db_->mutex);
  constexpr std::string_view kOperation = "claim the next job";
  WriteTransaction transaction(*db_, kOperation);
  const int64_t now = now_ms();
  // Running jobs per owner, for owners whose limit may hold their next job back.
  std::map<std::string, int64_t, std::less<>> running;
  if (may_start) {
    Statement count(*db_, kOperation,
                    "SELECT owner, COUNT(*) FROM jobs WHERE status = 'running' GROUP BY owner");
    while (count.step()) running[count.text(0)] = count.integer(1);
  }
  Statement queued(*db_, kOperation,
                   "SELECT id, owner FROM jobs WHERE status = 'queued' AND (start_deadline_ms = 0 OR "
                   "start_deadline_ms > ?) "
                   "ORDER BY sequence");
  queued.bind(1, now);
  std::optional<std::string> id;
  while (!id && queued.step()) {
    const std::string owner = queued.text(1);
    const auto found = running.find(owner);
    if (!may_start || may_start(owner, found == running.end() ? 0 : found->second)) id = queued.text(0);
  }
  queued.reset();
  if (!id) return std::nullopt;  // the rollback only ends the transaction
  Statement update(
      *db_, kOperation,
      "UPDATE jobs SET status = 'running', started_ms = ?, attempts = attempts + 1 WHERE id = ?");
  update.bind(1, now).bind(2, *id);
  update.run();
  auto job = find_locked(*db_, *id);
  transaction.commit();
  changes_.changed_all();  // the claimed job left the queue: every position behind it moved
  return job;
}

int JobStore::requeue_interrupted() {
  const std::lock_guard lock(db_->mutex);
  // cancel_requested, stage and progress stay: the worker that resumes the job sees a pending cancel.
  // The run was lost with its server: counted, so that a job that keeps killing servers ends.
  Statement update(*db_, "requeue interrupted jobs",
                   "UPDATE jobs SET status = 'queued', lost_runs = lost_runs + 1 WHERE status = 'running'");
  update.run();
  const int count = sqlite3_changes(db_->connection.get());
  if (count > 0) {
    core::logger("service").info("job store {}: {} interrupted job(s) queued again at their places",
                                 db_->file, count);
    changes_.changed_all();
  }
  return count;
}

void JobStore::update_progress(std::string_view id, std::string_view stage, double progress,
                               std::string_view message) {
  const std::lock_guard lock(db_->mutex);
  Statement update(*db_, "record a job's progress",
                   "UPDATE jobs SET stage = ?, progress = ?, message = ? WHERE id = ?");
  update.bind(1, stage).bind(2, progress).bind(3, message).bind(4, id);
  update.run();
  if (!stage.empty()) {
    // A resumed job keeps the time its stage first started.
    Statement start(*db_, "record when a stage started",
                    "INSERT OR IGNORE INTO stage_starts (job_id, stage, started_ms) VALUES (?, ?, ?)");
    start.bind(1, id).bind(2, stage).bind(3, now_ms());
    start.run();
  }
  changes_.changed(id);
}

std::vector<StageStart> JobStore::stage_starts(std::string_view id) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(*db_, "read a job's stage times",
                   "SELECT stage, started_ms FROM stage_starts WHERE job_id = ? ORDER BY started_ms, rowid");
  select.bind(1, id);
  std::vector<StageStart> starts;
  while (select.step()) starts.push_back({select.text(0), select.integer(1)});
  return starts;
}

void JobStore::append_log(std::string_view id, const StoredLogLine& line) {
  const std::lock_guard lock(db_->mutex);
  // Foreign keys make a line of an unknown job an error rather than an orphan.
  Statement insert(*db_, "append a log line",
                   "INSERT INTO log_lines (job_id, timestamp_ms, level, message) VALUES (?, ?, ?, ?)");
  insert.bind(1, id).bind(2, line.timestamp_ms != 0 ? line.timestamp_ms : now_ms());
  insert.bind(3, line.level).bind(4, line.message);
  insert.run();
  changes_.changed(id);
}

std::vector<StoredLogLine> JobStore::logs(std::string_view id, int64_t after) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(*db_, "read a job's log",
                   "SELECT sequence, timestamp_ms, level, message FROM log_lines "
                   "WHERE job_id = ? AND sequence > ? ORDER BY sequence");
  select.bind(1, id).bind(2, after);
  std::vector<StoredLogLine> lines;
  while (select.step()) {
    lines.push_back({select.integer(0), select.integer(1), select.text(2), select.text(3)});
  }
  return lines;
}

bool JobStore::finish(std::string_view id, StoredJobStatus status, std::string_view body_json,
                      int http_status) {
  if (!is_finished(status)) {
    throw core::InternalError(
        fmt::format("job store {}: finish(job {}) got status {}; it takes succeeded, failed "
                    "or cancelled",
                    db_->file, id, to_string(status)));
  }
  const std::lock_guard lock(db_->mutex);
  Statement update(
      *db_, "finish a job",
      "UPDATE jobs SET status = ?, result_json = ?, http_status = ?, finished_ms = ?, billing_units = ? "
      "WHERE id = ? AND status IN ('queued', 'running')");
  update.bind(1, to_string(status)).bind(2, body_json).bind(3, http_status).bind(4, now_ms());
  update.bind(5, status == StoredJobStatus::succeeded ? billed_units(body_json) : 0).bind(6, id);
  update.run();
  const bool finished = sqlite3_changes(db_->connection.get()) > 0;
  if (finished) changes_.changed_all();  // a queued job that ends moves the ones behind it
  return finished;
}

std::optional<StoredJobStatus> JobStore::request_cancel(std::string_view id, std::string_view cancelled_body,
                                                        int cancelled_http_status) {
  const std::lock_guard lock(db_->mutex);
  constexpr std::string_view kOperation = "cancel a job";
  WriteTransaction transaction(*db_, kOperation);
  Statement select(*db_, kOperation, "SELECT status FROM jobs WHERE id = ?");
  select.bind(1, id);
  if (!select.step()) return std::nullopt;
  const StoredJobStatus status = status_from_text(select.text(0), db_->file);
  select.reset();
  if (status == StoredJobStatus::queued) {
    Statement update(
        *db_, kOperation,
        "UPDATE jobs SET status = 'cancelled', result_json = ?, http_status = ?, finished_ms = ? "
        "WHERE id = ?");
    update.bind(1, cancelled_body).bind(2, cancelled_http_status).bind(3, now_ms()).bind(4, id);
    update.run();
    transaction.commit();
    changes_.changed_all();
    return StoredJobStatus::cancelled;
  }
  if (status == StoredJobStatus::running) {
    Statement update(*db_, kOperation, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?");
    update.bind(1, id);
    update.run();
    transaction.commit();
    return StoredJobStatus::running;
  }
  return std::nullopt;
}

std::string JobStore::publish_file(std::string_view job_id, const fs::path& path, std::string_view file_name,
                                   std::string_view content_type) {
  const std::lock_guard lock(db_->mutex);
  const std::string token = random_token();
  Statement insert(*db_, "publish a result file",
                   "INSERT INTO files (token, job_id, path, file_name, content_type) VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, token).bind(2, job_id).bind(3, path.string()).bind(4, file_name).bind(5, content_type);
  insert.run();
  return token;
}

std::optional<StoredFile> JobStore::file(std::string_view token) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(*db_, "look up a published file",
                   "SELECT token, job_id, path, file_name, content_type FROM files WHERE token = ?");
  select.bind(1, token);
  if (!select.step()) return std::nullopt;
  return StoredFile{select.text(0), select.text(1), fs::path(select.text(2)), select.text(3), select.text(4)};
}

std::vector<StoredJob> JobStore::pending_webhooks() const {
  const std::lock_guard lock(db_->mutex);
  // Oldest first = in the order the jobs finished (submission order between equal times).
  Statement select(
      *db_, "list pending webhooks",
      fmt::format("SELECT {} FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') "
                  "AND webhook_url != '' AND webhook_delivered = 0 ORDER BY finished_ms, sequence",
                  kJobColumns));
  std::vector<StoredJob> jobs;
  while (select.step()) jobs.push_back(read_job(select, db_->file));
  return jobs;
}

void JobStore::mark_webhook_delivered(std::string_view id) {
  const std::lock_guard lock(db_->mutex);
  Statement update(*db_, "mark a webhook delivered", "UPDATE jobs SET webhook_delivered = 1 WHERE id = ?");
  update.bind(1, id);
  update.run();
}

namespace {

// Finishes every job that `where` selects (a condition on jobs with one bound integer) as failed with
// `body`; returns their ids. Caller holds the mutex.
std::vector<std::string> fail_jobs_where(StoreConnection& db, std::string_view operation,
                                         const std::string& where, int64_t bound, std::string_view body,
                                         int http_status) {
  WriteTransaction transaction(db, operation);
  Statement select(db, operation, "SELECT id FROM jobs WHERE " + where + " ORDER BY sequence");
  select.bind(1, bound);
  std::vector<std::string> ids;
  while (select.step()) ids.push_back(select.text(0));
  select.reset();
  for (const auto& id : ids) {
    Statement update(db, operation,
                     "UPDATE jobs SET status = 'failed', result_json = ?, http_status = ?, finished_ms = ? "
                     "WHERE id = ?");
    update.bind(1, body).bind(2, http_status).bind(3, now_ms()).bind(4, id);
    update.run();
  }
  transaction.commit();
  return ids;
}

}  // namespace

std::vector<std::string> JobStore::expire_unstarted(int64_t now, std::string_view body, int http_status) {
  const std::lock_guard lock(db_->mutex);
  auto expired = fail_jobs_where(*db_, "expire jobs past their start deadline",
                                 "status = 'queued' AND start_deadline_ms > 0 AND start_deadline_ms <= ?",
                                 now, body, http_status);
  if (!expired.empty()) changes_.changed_all();
  return expired;
}

int64_t JobStore::next_start_deadline() const {
  const std::lock_guard lock(db_->mutex);
  Statement select(*db_, "read the next start deadline",
                   "SELECT COALESCE(MIN(start_deadline_ms), 0) FROM jobs WHERE status = 'queued' AND "
                   "start_deadline_ms > 0");
  return select.step() ? select.integer(0) : 0;
}

void JobStore::requeue(std::string_view id) {
  const std::lock_guard lock(db_->mutex);
  Statement update(*db_, "requeue a job",
                   "UPDATE jobs SET status = 'queued' WHERE id = ? AND status = 'running'");
  update.bind(1, id);
  update.run();
  changes_.changed_all();
}

std::vector<std::string> JobStore::fail_interrupted_without_retry(std::string_view body, int http_status) {
  const std::lock_guard lock(db_->mutex);
  auto failed = fail_jobs_where(*db_, "fail interrupted jobs that asked for no retry",
                                "status = 'running' AND no_retry = ?", 1, body, http_status);
  if (!failed.empty()) changes_.changed_all();
  return failed;
}

void JobStore::add_preview(std::string_view job_id, const StoredPreview& preview) {
  const std::lock_guard lock(db_->mutex);
  Statement insert(
      *db_, "record a validation preview",
      "INSERT OR IGNORE INTO previews (job_id, step, token, file_name, file_size) VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, job_id).bind(2, preview.step).bind(3, preview.token).bind(4, preview.file_name);
  insert.bind(5, static_cast<int64_t>(preview.file_size));
  insert.run();
  changes_.changed(job_id);
}

std::vector<StoredPreview> JobStore::previews(std::string_view job_id) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(*db_, "read a job's previews",
                   "SELECT step, token, file_name, file_size FROM previews WHERE job_id = ? ORDER BY step");
  select.bind(1, job_id);
  std::vector<StoredPreview> previews;
  while (select.step()) {
    previews.push_back(
        {select.integer(0), select.text(1), select.text(2), static_cast<uint64_t>(select.integer(3))});
  }
  return previews;
}

namespace {

constexpr const char* kUploadColumns =
    "id, upload_token, owner, file_name, content_type, multipart, complete, bytes, created_ms";

StoredUpload read_upload(const Statement& row) {
  return StoredUpload{
      row.text(0),   row.text(1),         row.text(2),         row.text(3),
      row.text(4),   row.integer(5) != 0, row.integer(6) != 0, static_cast<uint64_t>(row.integer(7)),
      row.integer(8)};
}

std::optional<StoredUpload> find_upload_where(const StoreConnection& db, const char* column,
                                              std::string_view value) {
  Statement select(db, "read an upload",
                   fmt::format("SELECT {} FROM uploads WHERE {} = ?", kUploadColumns, column));
  select.bind(1, value);
  if (!select.step()) return std::nullopt;
  return read_upload(select);
}

}  // namespace

void JobStore::add_upload(const StoredUpload& upload) {
  const std::lock_guard lock(db_->mutex);
  Statement insert(
      *db_, "record an upload",
      fmt::format("INSERT INTO uploads ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", kUploadColumns));
  insert.bind(1, upload.id).bind(2, upload.upload_token).bind(3, upload.owner).bind(4, upload.file_name);
  insert.bind(5, upload.content_type).bind(6, upload.multipart ? 1 : 0).bind(7, upload.complete ? 1 : 0);
  insert.bind(8, static_cast<int64_t>(upload.bytes)).bind(9, upload.created_ms);
  insert.run();
}

std::optional<StoredUpload> JobStore::upload(std::string_view id) const {
  const std::lock_guard lock(db_->mutex);
  return find_upload_where(*db_, "id", id);
}

std::optional<StoredUpload> JobStore::upload_by_token(std::string_view upload_token) const {
  const std::lock_guard lock(db_->mutex);
  return find_upload_where(*db_, "upload_token", upload_token);
}

void JobStore::complete_upload(std::string_view id, uint64_t bytes) {
  const std::lock_guard lock(db_->mutex);
  Statement update(*db_, "complete an upload", "UPDATE uploads SET complete = 1, bytes = ? WHERE id = ?");
  update.bind(1, static_cast<int64_t>(bytes)).bind(2, id);
  update.run();
}

std::vector<std::string> JobStore::fail_lost_jobs(int max_lost_runs, std::string_view body, int http_status) {
  const std::lock_guard lock(db_->mutex);
  auto failed = fail_jobs_where(*db_, "fail jobs lost with their servers too often",
                                "status = 'queued' AND lost_runs >= ?", max_lost_runs, body, http_status);
  if (!failed.empty()) changes_.changed_all();
  return failed;
}

JobPage JobStore::list_jobs(std::string_view owner, JobListFilter filter, int limit, int64_t before) const {
  const std::lock_guard lock(db_->mutex);
  std::string where = "owner = ? AND sequence < ?";
  switch (filter) {
    case JobListFilter::all:
      break;
    case JobListFilter::queued:
      where += " AND status = 'queued'";
      break;
    case JobListFilter::running:
      where += " AND status = 'running'";
      break;
    case JobListFilter::completed:
      where += " AND status IN ('succeeded', 'failed', 'cancelled')";
      break;
    case JobListFilter::succeeded:
      where += " AND status = 'succeeded'";
      break;
    case JobListFilter::failed:
      where += " AND status = 'failed'";
      break;
    case JobListFilter::cancelled:
      where += " AND status = 'cancelled'";
      break;
  }
  Statement select(
      *db_, "list a key's jobs",
      fmt::format("SELECT {} FROM jobs WHERE {} ORDER BY sequence DESC LIMIT ?", kJobColumns, where));
  select.bind(1, owner).bind(2, before > 0 ? before : std::numeric_limits<int64_t>::max()).bind(3, limit + 1);
  JobPage page;
  while (select.step()) page.jobs.push_back(read_job(select, db_->file));
  if (static_cast<int>(page.jobs.size()) > limit) {
    page.jobs.pop_back();
    page.next_before = page.jobs.back().sequence;
  }
  return page;
}

std::vector<KeyUsage> JobStore::usage(int64_t from_ms, int64_t to_ms,
                                      std::optional<std::string> owner) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(
      *db_, "sum up usage",
      std::string("SELECT owner, COUNT(*), SUM(status = 'succeeded'), SUM(status = 'failed'), "
                  "SUM(status = 'cancelled'), SUM(billing_units) FROM jobs "
                  "WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_ms >= ? AND "
                  "finished_ms < ?") +
          (owner ? " AND owner = ?" : "") + " GROUP BY owner ORDER BY owner");
  select.bind(1, from_ms).bind(2, to_ms);
  if (owner) select.bind(3, *owner);
  std::vector<KeyUsage> usage;
  while (select.step()) {
    usage.push_back({select.text(0), select.integer(1), select.integer(2), select.integer(3),
                     select.integer(4), select.integer(5)});
  }
  return usage;
}

std::pair<int64_t, int64_t> JobStore::active_jobs(std::string_view owner) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(
      *db_, "count a key's active jobs",
      "SELECT COALESCE(SUM(status = 'queued'), 0), COALESCE(SUM(status = 'running'), 0) FROM jobs "
      "WHERE owner = ? AND status IN ('queued', 'running')");
  select.bind(1, owner);
  if (!select.step()) return {0, 0};
  return {select.integer(0), select.integer(1)};
}

std::vector<std::pair<StoredJobStatus, int64_t>> JobStore::status_counts() const {
  const std::lock_guard lock(db_->mutex);
  Statement select(*db_, "count jobs by status", "SELECT status, COUNT(*) FROM jobs GROUP BY status");
  std::vector<std::pair<StoredJobStatus, int64_t>> counts;
  while (select.step()) counts.emplace_back(status_from_text(select.text(0), db_->file), select.integer(1));
  return counts;
}

bool JobStore::mark_deleted(std::string_view id) {
  const std::lock_guard lock(db_->mutex);
  constexpr std::string_view kOperation = "delete a job's data";
  WriteTransaction transaction(*db_, kOperation);
  Statement update(
      *db_, kOperation,
      "UPDATE jobs SET deleted_ms = ? WHERE id = ? AND status IN ('succeeded', 'failed', 'cancelled')");
  update.bind(1, now_ms()).bind(2, id);
  update.run();
  if (sqlite3_changes(db_->connection.get()) == 0) return false;
  for (const char* table : {"previews", "files"}) {
    Statement revoke(*db_, kOperation, fmt::format("DELETE FROM {} WHERE job_id = ?", table));
    revoke.bind(1, id);
    revoke.run();
  }
  transaction.commit();
  changes_.changed(id);
  return true;
}

std::vector<std::string> JobStore::finished_before(int64_t before_ms) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(
      *db_, "list jobs past their retention",
      "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND deleted_ms = 0 "
      "AND finished_ms < ? ORDER BY finished_ms");
  select.bind(1, before_ms);
  std::vector<std::string> ids;
  while (select.step()) ids.push_back(select.text(0));
  return ids;
}

std::vector<StoredUpload> JobStore::uploads_before(int64_t before_ms) const {
  const std::lock_guard lock(db_->mutex);
  Statement select(
      *db_, "list uploads past their retention",
      fmt::format("SELECT {} FROM uploads WHERE created_ms < ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE "
                  "status IN ('queued', 'running') AND instr(request_json, uploads.id) > 0) "
                  "ORDER BY created_ms",
                  kUploadColumns));
  select.bind(1, before_ms);
  std::vector<StoredUpload> uploads;
  while (select.step()) uploads.push_back(read_upload(select));
  return uploads;
}

void JobStore::delete_upload(std::string_view id) {
  const std::lock_guard lock(db_->mutex);
  Statement remove(*db_, "delete an upload", "DELETE FROM uploads WHERE id = ?");
  remove.bind(1, id);
  remove.run();
}

int JobStore::rename_owner(std::string_view from, std::string_view to) {
  const std::lock_guard lock(db_->mutex);
  WriteTransaction transaction(*db_, "rename an owner");
  int changed = 0;
  for (const char* table : {"jobs", "uploads"}) {
    Statement update(*db_, "rename an owner", fmt::format("UPDATE {} SET owner = ? WHERE owner = ?", table));
    update.bind(1, to).bind(2, from);
    update.run();
    changed += sqlite3_changes(db_->connection.get());
  }
  transaction.commit();
  return changed;
}

std::optional<core::Problem> trained_lora_problem(const JobStore& store, std::string_view owner,
                                                  std::string_view id) {
  const auto job = store.find(id);
  std::string why;
  if (!job || job->owner != owner) {
    why = "no training job " + std::string(id) + " of this API key: give the request_id of one of your jobs";
  } else if (job->kind != JobKind::training) {
    why = "request " + job->id + " is a try-it job, not a training job: give the request_id of the training";
  } else if (job->status != StoredJobStatus::succeeded) {
    why = "request " + job->id + " has not delivered a LoRA (it is " + std::string(to_string(job->status)) +
          "): try a job that succeeded";
  } else if (job->deleted_ms > 0) {
    why = "the data of request " + job->id + " was deleted, its LoRA with it: train again to try it";
  } else {
    return std::nullopt;
  }
  return core::Problem{{"body", "request_id"}, why, "value_error"};
}

}  // namespace avtrain::service
