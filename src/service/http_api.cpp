#include "service/http_api.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"
#include "service/elastic_task_queue.h"
#include "service/job.h"
#include "service/job_store.h"
#include "service/metrics_series.h"
#include "service/network_address.h"
#include "service/queue_errors.h"
#include "service/request/billing.h"
#include "service/request/inference_request.h"
#include "service/request/request_schema.h"
#include "service/request/training_request.h"
#include "service/retention.h"
#include "service/time_text.h"
#include "service/usage.h"
#include "service/webhook.h"
#include "service/webhook_signing.h"
#include "service/workers.h"

namespace avtrain::service {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

spdlog::logger& log() { return core::logger("service"); }

// A job's prefix: the endpoint id's owner/alias (any), or /v1.
constexpr const char* kPrefix = R"((/v1|/[^/]+/[^/]+))";
constexpr const char* kRequestId = R"(([0-9a-f-]{36}))";
constexpr const char* kToken = R"(([0-9a-f]{32}))";
// JSON bodies (requests, upload initiations) are small; only upload data may be large.
constexpr size_t kMaxJsonBody = size_t{1} << 20;
// What a 429 tells a client to wait before it submits again.
constexpr int kRetryAfterSeconds = 30;
// A history page's default and largest sizes.
constexpr int kDefaultPageSize = 20, kMaxPageSize = 100;
// An open status stream sleeps until its job changes (JobStore::changes), waking this often to notice a
// closed connection or a stopping server, and re-reads the store this often anyway (another process
// sharing the store is not announced). Events are at most this frequent: a burst of changes (log lines,
// progress) is sent as one event carrying all of them.
constexpr auto kStreamWake = std::chrono::milliseconds(500);
constexpr auto kStreamReread = std::chrono::seconds(5);
constexpr auto kStreamMinEventInterval = std::chrono::milliseconds(100);
// Connections served at once (each on its thread: streams and keep-alive clients hold theirs); the
// threads beyond the first kIdleThreads end after a minute without work.
constexpr size_t kIdleThreads = 16, kMaxConnections = 4096;
// A comment line keeps idle stream connections open through proxies.
constexpr auto kStreamKeepAlive = std::chrono::seconds(15);

void reply_json(httplib::Response& response, int status, const ordered_json& body) {
  response.status = status;
  response.set_content(core::json_text(body), "application/json");
}

void reply_detail(httplib::Response& response, int status, const std::string& message) {
  reply_json(response, status, ordered_json{{"detail", message}});
}

// A request error of the queue (queue_errors.h): its body and the X-Fal-Error-Type header.
void reply_request_error(httplib::Response& response, std::string_view error_type, int status,
                         const std::string& message) {
  response.set_header("X-Fal-Error-Type", std::string(error_type));
  ordered_json body{{"detail", message}, {"error_type", error_type}};
  reply_json(response, status, body);
}

// The hosted queue's three states; failed and cancelled jobs are COMPLETED too (clients stop
// polling) and `outcome` tells them apart.
const char* queue_state(StoredJobStatus status) {
  switch (status) {
    case StoredJobStatus::queued:
      return "IN_QUEUE";
    case StoredJobStatus::running:
      return "IN_PROGRESS";
    default:
      return "COMPLETED";
  }
}

struct JobUrls {
  std::string response, status, cancel;
};

JobUrls job_urls(const std::string& public_url, const std::string& prefix, const std::string& id) {
  const std::string response = public_url + prefix + "/requests/" + id;
  return {response, response + "/status", response + "/cancel"};
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  const auto scope = classify_address(host);
  return scope && *scope == AddressScope::loopback;
}

// The hosted queue's truthy header values ("1", "true", "yes").
bool header_is_true(const std::string& value) {
  std::string lower;
  for (const unsigned char c : value) lower += static_cast<char>(std::tolower(c));
  return lower == "1" || lower == "true" || lower == "yes";
}

// Whether a request's path is one that takes upload data (any size, up to --max-upload-size).
bool takes_upload_data(const httplib::Request& request) {
  static const std::regex kUploadData(R"(^/storage/upload/[0-9a-f]{32}(/[0-9]+)?$)");
  return request.method == "PUT" && std::regex_match(request.path, kUploadData);
}

std::optional<JobListFilter> parse_list_filter(const std::string& text) {
  static const std::map<std::string, JobListFilter> kFilters = {{"", JobListFilter::all},
                                                                {"IN_QUEUE", JobListFilter::queued},
                                                                {"IN_PROGRESS", JobListFilter::running},
                                                                {"COMPLETED", JobListFilter::completed},
                                                                {"queued", JobListFilter::queued},
                                                                {"running", JobListFilter::running},
                                                                {"succeeded", JobListFilter::succeeded},
                                                                {"failed", JobListFilter::failed},
                                                                {"cancelled", JobListFilter::cancelled}};
  const auto found = kFilters.find(text);
  if (found == kFilters.end()) return std::nullopt;
  return found->second;
}

// A whole-number query parameter in [min, max]; `fallback` when absent; a problem when not.
int64_t parse_query_integer(const httplib::Request& request, const char* name, int64_t fallback, int64_t min,
                            int64_t max, std::vector<core::Problem>& problems) {
  if (!request.has_param(name)) return fallback;
  const std::string text = request.get_param_value(name);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    problems.push_back({{"query", name},
                        fmt::format("{} \"{}\" is not a whole number from {} to {}", name, text, min, max),
                        "int_parsing"});
    return fallback;
  }
  return value;
}

// A time query parameter (time_text.h's forms) as Unix milliseconds; `fallback` when absent; a
// problem when it is none of them.
int64_t parse_time(const httplib::Request& request, const char* name, int64_t fallback,
                   std::vector<core::Problem>& problems) {
  if (!request.has_param(name)) return fallback;
  const std::string text = request.get_param_value(name);
  if (const auto ms = parse_time_ms(text)) return *ms;
  problems.push_back({{"query", name},
                      fmt::format("{} \"{}\" is not a time: write a date (2026-12-01), a UTC time "
                                  "(2026-12-01T12:00:00Z) or Unix seconds",
                                  name, text),
                      "datetime_parsing"});
  return fallback;
}

ordered_json time_or_null(int64_t ms) { return ms > 0 ? ordered_json(iso8601(ms)) : ordered_json(nullptr); }

// One job of a history page.
ordered_json history_item(const StoredJob& job, const std::string& public_url, const std::string& prefix) {
  const auto urls = job_urls(public_url, prefix, job.id);
  return ordered_json{
      {"request_id", job.id},
      {"kind", to_string(job.kind)},
      {"status_url", urls.status},
      {"response_url", urls.response},
      {"status", queue_state(job.status)},
      {"stage", job.status == StoredJobStatus::queued ? "queued"
                : is_finished(job.status)             ? std::string(to_string(job.status))
                                                      : job.stage},
      {"progress", job.status == StoredJobStatus::succeeded ? 1.0 : job.progress},
      {"outcome",
       is_finished(job.status) ? ordered_json(std::string(to_string(job.status))) : ordered_json(nullptr)},
      {"created_at", time_or_null(job.submitted_ms)},
      {"started_at", time_or_null(job.started_ms)},
      {"finished_at", time_or_null(job.finished_ms)},
      {"deleted_at", time_or_null(job.deleted_ms)},
      {"billing", {{"units", job.billing_units}, {"cost_usd", format_cost_usd(job.billing_units)}}}};
}

// Each stage the job entered with its start and, once the next stage started or the job ended, its
// seconds: [{"stage", "started_at", "seconds"}] (seconds null while it runs).
ordered_json stage_timeline(const std::vector<StageStart>& starts, const StoredJob& job) {
  ordered_json timeline = ordered_json::array();
  for (size_t index = 0; index < starts.size(); ++index) {
    const int64_t end = index + 1 < starts.size() ? starts[index + 1].started_ms
                        : is_finished(job.status) ? job.finished_ms
                                                  : 0;
    timeline.push_back(
        {{"stage", starts[index].stage},
         {"started_at", iso8601(starts[index].started_ms)},
         {"seconds", end > 0 ? ordered_json(std::max<int64_t>(0, end - starts[index].started_ms) / 1000.0)
                             : ordered_json(nullptr)}});
  }
  return timeline;
}

}  // namespace

QueueApi::QueueApi(JobStore& store, ApiSettings settings)
    : store_(store), settings_(std::move(settings)), server_(std::make_unique<httplib::Server>()) {
  if (!settings_.api_keys && !is_loopback_host(settings_.host)) {
    throw core::InvalidInput(fmt::format(
        "--listen {}: without --api-keys the server accepts loopback addresses only (127.0.0.1, ::1, "
        "localhost); give --api-keys FILE to listen on {}",
        settings_.host, settings_.host));
  }
  // The packaged cpp-httplib listens with a backlog of 5: a burst of simultaneous submissions overflowed
  // it and lost connections. The listening socket is taken as it is made and its backlog raised.
  int listening_socket = -1;
  server_->set_socket_options([&listening_socket](socket_t socket) {
    httplib::default_socket_options(socket);
    listening_socket = socket;
  });
  if (settings_.port == 0) {
    port_ = server_->bind_to_any_port(settings_.host);
  } else {
    port_ = server_->bind_to_port(settings_.host, settings_.port) ? settings_.port : -1;
  }
  server_->set_socket_options(httplib::default_socket_options);  // the lambda's reference ends here
  if (port_ > 0 && listening_socket >= 0) ::listen(listening_socket, SOMAXCONN);
  if (port_ <= 0) {
    throw core::InvalidInput(
        fmt::format("--listen {}:{}: cannot bind that address (in use, or not this machine's)",
                    settings_.host, settings_.port));
  }
  if (settings_.public_url.empty()) {
    const bool v6 = settings_.host.find(':') != std::string::npos;
    settings_.public_url =
        fmt::format("http://{}:{}", v6 ? "[" + settings_.host + "]" : settings_.host, port_);
  }
  while (!settings_.public_url.empty() && settings_.public_url.back() == '/') settings_.public_url.pop_back();
  if (!settings_.api_keys) log().warn("no --api-keys: no authentication, loopback only ({})", settings_.host);
  uploads_ = std::make_unique<Uploads>(
      store_, UploadSettings{settings_.uploads_dir, settings_.max_upload_bytes, settings_.public_url});
  // Upload data is streamed to disk by its routes; every other body is refused above kMaxJsonBody before
  // it is read (cpp-httplib would otherwise buffer it whole, and it checks only Content-Length).
  server_->set_payload_max_length(static_cast<size_t>(settings_.max_upload_bytes) + kMaxJsonBody);
  server_->set_pre_routing_handler([](const httplib::Request& request, httplib::Response& response) {
    if (takes_upload_data(request)) return httplib::Server::HandlerResponse::Unhandled;
    const bool chunked = request.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
    const auto length = request.get_header_value<uint64_t>("Content-Length");
    if (!chunked && length <= kMaxJsonBody) return httplib::Server::HandlerResponse::Unhandled;
    response.set_header("Connection", "close");  // the unread body must not be taken for a request
    if (chunked) {
      reply_detail(response, 411, "send this request's body with a Content-Length (not chunked)");
    } else {
      reply_detail(
          response, 413,
          fmt::format("the request body has {} bytes; this route takes at most {}", length, kMaxJsonBody));
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->new_task_queue = [] {
    return new ElasticTaskQueue(kIdleThreads, kMaxConnections, std::chrono::seconds(60));
  };
  server_->set_logger([](const httplib::Request& request, const httplib::Response& response) {
    log().debug("{} {} -> {}", request.method, request.path, response.status);
  });
  add_site_routes();
  add_routes();
  add_storage_routes();
  add_operations_routes();
}

QueueApi::~QueueApi() = default;

void QueueApi::serve(Workers* workers) {
  workers_ = workers;
  server_->listen_after_bind();
}

void QueueApi::stop() {
  stopping_ = true;
  server_->stop();
}

namespace {

// Who calls: a key's identity and limits (an empty identity without keys).
struct Caller {
  std::string owner;
  KeyLimits limits;
};

// The caller, or nullopt after answering 401.
std::optional<Caller> authorize(const ApiKeys* keys, const httplib::Request& request,
                                httplib::Response& response) {
  if (!keys) return Caller{};
  const std::string header = request.get_header_value("Authorization");
  for (const std::string scheme : {"Key ", "Bearer "}) {
    if (header.rfind(scheme, 0) != 0) continue;
    if (auto key = keys->identify(std::string_view(header).substr(scheme.size()))) {
      return Caller{std::move(key->identity), key->limits};
    }
  }
  response.set_header("WWW-Authenticate", "Key");
  reply_detail(response, 401,
               header.empty() ? "Missing Authorization header: send 'Authorization: Key <your API key>'"
                              : "Invalid API key in the Authorization header");
  return std::nullopt;
}

// X-Fal-Request-Timeout: seconds the job may wait to start. Absent: 0 (no deadline); nullopt after
// answering 400 for a value that is not a positive number.
std::optional<int64_t> start_deadline(const httplib::Request& request, httplib::Response& response) {
  const std::string value = request.get_header_value("X-Fal-Request-Timeout");
  if (value.empty()) return 0;
  char* end = nullptr;
  const double seconds = std::strtod(value.c_str(), &end);
  if (end != value.c_str() + value.size() || !std::isfinite(seconds) || seconds <= 0 || seconds > 1e9) {
    reply_request_error(response, kBadRequest, 400,
                        "X-Fal-Request-Timeout \"" + value + "\" is not a number of seconds above 0");
    return std::nullopt;
  }
  return now_ms() + static_cast<int64_t>(std::llround(seconds * 1000));
}

}  // namespace

void QueueApi::add_upload_problem(const std::string& url, const std::string& field, const std::string& owner,
                                  std::vector<core::Problem>& problems) const {
  // The server's own upload URLs must be this key's completed uploads (DECISIONS.md §38).
  if (!uploads_->is_upload_url(url)) return;
  try {
    uploads_->resolve(url, owner, field);
  } catch (const core::InvalidInput& error) {
    problems.insert(problems.end(), error.problems().begin(), error.problems().end());
  }
}

void QueueApi::add_upload_problems(const TrainingRequest& request, const std::string& owner,
                                   std::vector<core::Problem>& problems) const {
  add_upload_problem(request.training_data_url, "training_data_url", owner, problems);
  for (size_t idx = 0; idx < request.validation.size(); ++idx) {
    const auto& entry = request.validation[idx];
    const std::string field = fmt::format("validation[{}]", idx);
    add_upload_problem(entry.reference_video_url, field + ".reference_video_url", owner, problems);
    if (entry.reference_audio_url)
      add_upload_problem(*entry.reference_audio_url, field + ".reference_audio_url", owner, problems);
  }
}

void QueueApi::add_routes() {
  const ApiKeys* const keys = settings_.api_keys.get();
  // The caller's job `id`, or nullopt after answering 404 (unknown, or another key's job).
  const auto find_job = [this](const std::string& owner, const std::string& id,
                               httplib::Response& response) -> std::optional<StoredJob> {
    auto job = store_.find(id);
    if (!job || job->owner != owner) {
      reply_detail(response, 404, "Request not found: " + id);
      return std::nullopt;
    }
    response.set_header("x-fal-request-id", id);
    return job;
  };
  // The status object; with logs, the lines after `logs_after` (the last one's sequence to *last_log).
  const auto status_of = [this](const StoredJob& job, const std::string& prefix, bool with_logs,
                                int64_t logs_after, int64_t* last_log = nullptr) {
    const auto urls = job_urls(settings_.public_url, prefix, job.id);
    ordered_json status{
        {"status", queue_state(job.status)}, {"request_id", job.id}, {"kind", to_string(job.kind)}};
    if (job.status == StoredJobStatus::queued)
      status["queue_position"] = store_.queue_position(job.id).value_or(0);
    status["response_url"] = urls.response;
    status["status_url"] = urls.status;
    status["cancel_url"] = urls.cancel;
    if (with_logs) {
      ordered_json logs = ordered_json::array();
      for (const auto& line : store_.logs(job.id, logs_after)) {
        if (last_log) *last_log = line.sequence;
        logs.push_back({{"message", line.message},
                        {"level", line.level},
                        {"source", "avtrain"},
                        {"timestamp", iso8601(line.timestamp_ms)}});
      }
      status["logs"] = std::move(logs);
    } else {
      status["logs"] = nullptr;
    }
    status["stage"] = job.status == StoredJobStatus::queued ? "queued"
                      : is_finished(job.status)             ? std::string(to_string(job.status))
                                                            : job.stage;
    status["progress"] = job.status == StoredJobStatus::succeeded ? 1.0 : job.progress;
    status["message"] = job.message;
    status["outcome"] = is_finished(job.status) ? ordered_json(std::string(to_string(job.status))) : nullptr;
    status["notes"] = job.notes;
    ordered_json previews = ordered_json::array();
    for (const auto& preview : store_.previews(job.id)) {
      previews.push_back({{"step", preview.step},
                          {"url", settings_.public_url + "/files/" + preview.token + "/" +
                                      url_path_segment(preview.file_name)},
                          {"file_size", preview.file_size}});
    }
    status["previews"] = std::move(previews);
    status["stages"] = stage_timeline(store_.stage_starts(job.id), job);
    return status;
  };
  const auto wants_logs = [](const httplib::Request& request) {
    const auto value = request.get_param_value("logs");
    return value == "1" || value == "true";
  };

  // A submission (a training job, or a try-it job): the hosted queue's query and headers, the request's
  // own check (`check_body` returns its problems and, when there are none, the normalized request JSON
  // and its notes), the key's queue limit, then the job is queued.
  struct CheckedBody {
    std::vector<core::Problem> problems;
    std::string request_json;
    std::vector<std::string> notes;
  };
  const auto queue_job = [=, this](const httplib::Request& request, httplib::Response& response, JobKind kind,
                                   const std::function<CheckedBody(const Caller&)>& check_body) {
    const auto caller = authorize(keys, request, response);
    if (!caller) return;
    const auto deadline = start_deadline(request, response);
    if (!deadline) return;
    const std::string webhook = request.get_param_value("fal_webhook");
    std::vector<core::Problem> problems;
    if (request.has_param("fal_webhook")) {
      if (const auto problem = webhook_url_problem(webhook)) {
        problems.push_back({{"query", "fal_webhook"}, *problem, "value_error"});
      }
    }
    auto checked = check_body(*caller);
    problems.insert(problems.end(), checked.problems.begin(), checked.problems.end());
    if (!problems.empty()) {
      response.set_header("X-Fal-Retryable", "false");
      response.status = 422;
      response.set_content(core::InvalidInput(problems).detail_json(), "application/json");
      return;
    }
    if (caller->limits.max_queued_jobs &&
        store_.active_jobs(caller->owner).first >= *caller->limits.max_queued_jobs) {
      response.set_header("Retry-After", std::to_string(kRetryAfterSeconds));
      reply_detail(response, 429,
                   fmt::format("this API key already has {} requests waiting in the queue, its limit "
                               "(max_queued_jobs): submit again when one has started",
                               *caller->limits.max_queued_jobs));
      return;
    }
    const auto& notes = checked.notes;
    const bool no_retry = header_is_true(request.get_header_value("x-fal-no-retry"));
    const std::string id =
        store_.submit({caller->owner, checked.request_json, webhook, notes, *deadline, no_retry, kind});
    for (const auto& note : notes) store_.append_log(id, {0, now_ms(), "INFO", "request: " + note});
    if (workers_) workers_->job_submitted();
    const auto urls = job_urls(settings_.public_url, request.matches[1], id);
    log().info(
        "{} job {} queued{}{}", to_string(kind), id, webhook.empty() ? "" : " (with a webhook)",
        *deadline > 0 ? fmt::format(" (must start within {:.1f} s)", (*deadline - now_ms()) / 1000.0) : "");
    response.set_header("x-fal-request-id", id);
    reply_json(response, 200,
               ordered_json{{"status", "IN_QUEUE"},
                            {"request_id", id},
                            {"response_url", urls.response},
                            {"status_url", urls.status},
                            {"cancel_url", urls.cancel},
                            {"queue_position", store_.queue_position(id).value_or(0)},
                            {"notes", notes}});
  };

  server_->Post(std::string(kPrefix) + "/av2av",
                [=, this](const httplib::Request& request, httplib::Response& response) {
                  queue_job(request, response, JobKind::training, [&](const Caller& caller) {
                    auto check = check_training_request(request.body, settings_.local_files);
                    CheckedBody checked{std::move(check.problems), {}, {}};
                    if (!check.request) return checked;
                    add_upload_problems(*check.request, caller.owner, checked.problems);
                    checked.request_json = core::json_text(to_json(*check.request));
                    checked.notes = check.request->notes;
                    return checked;
                  });
                });

  // Try it (issue 26): a training job's LoRA on a new reference clip, in the same queue, billed 0.
  server_->Post(std::string(kPrefix) + "/infer",
                [=, this](const httplib::Request& request, httplib::Response& response) {
                  queue_job(request, response, JobKind::inference, [&](const Caller& caller) {
                    auto check = check_inference_request(request.body, settings_.local_files);
                    CheckedBody checked{std::move(check.problems), {}, {}};
                    if (!check.request_id.empty()) {
                      if (auto problem = trained_lora_problem(store_, caller.owner, check.request_id))
                        checked.problems.push_back(std::move(*problem));
                    }
                    if (!check.request) return checked;
                    add_upload_problem(check.request->reference_video_url, "reference_video_url",
                                       caller.owner, checked.problems);
                    if (check.request->reference_audio_url)
                      add_upload_problem(*check.request->reference_audio_url, "reference_audio_url",
                                         caller.owner, checked.problems);
                    checked.request_json = core::json_text(to_json(*check.request));
                    checked.notes = check.request->notes;
                    return checked;
                  });
                });

  // 202 while the job is queued or running, 200 once it is completed (DECISIONS.md §37).
  server_->Get(std::string(kPrefix) + "/requests/" + kRequestId + "/status",
               [=](const httplib::Request& request, httplib::Response& response) {
                 const auto caller = authorize(keys, request, response);
                 if (!caller) return;
                 const auto job = find_job(caller->owner, request.matches[2], response);
                 if (!job) return;
                 reply_json(response, is_finished(job->status) ? 200 : 202,
                            status_of(*job, request.matches[1], wants_logs(request), 0));
               });

  server_->Get(
      std::string(kPrefix) + "/requests/" + kRequestId + "/status/stream",
      [=, this](const httplib::Request& request, httplib::Response& response) {
        const auto caller = authorize(keys, request, response);
        if (!caller) return;
        const auto job = find_job(caller->owner, request.matches[2], response);
        if (!job) return;
        const std::string id = job->id, prefix = request.matches[1];
        const bool with_logs = wants_logs(request);
        // Each event carries the status and only the log lines not sent before; the stream ends
        // right after the COMPLETED event (the hosted clients wait for the end of the body).
        struct StreamState {
          std::string last_sent;
          int64_t logs_after = 0;
          uint64_t seen_version = 0;
          bool first = true;
          std::chrono::steady_clock::time_point last_read, last_write = std::chrono::steady_clock::now();
        };
        auto state = std::make_shared<StreamState>();
        response.set_header("Cache-Control", "no-cache");
        response.set_chunked_content_provider(
            "text/event-stream", [=, this](size_t, httplib::DataSink& sink) {
              const auto& changes = store_.changes();
              for (;;) {
                if (stopping_ || !sink.is_writable()) return false;
                const auto now = std::chrono::steady_clock::now();
                const uint64_t version = state->first ? changes.last_change(id)
                                                      : changes.wait(id, state->seen_version, kStreamWake);
                const bool announced = version != state->seen_version;
                if (!state->first && !announced && now - state->last_read < kStreamReread) {
                  if (now - state->last_write > kStreamKeepAlive) {
                    const std::string ping = ": keepalive\n\n";
                    if (!sink.write(ping.data(), ping.size())) return false;
                    state->last_write = now;
                  }
                  continue;
                }
                // A re-read no change announced (another process's write) may reuse one as recent.
                std::optional<std::chrono::milliseconds> max_age;
                if (!announced && !state->first) max_age = kStreamReread;
                state->first = false;
                state->seen_version = version;
                state->last_read = now;
                const auto event =
                    status_events_.get({id, version, prefix, with_logs, state->logs_after}, max_age,
                                       [&]() -> std::optional<StatusEvent> {
                                         const auto current = store_.find(id);
                                         if (!current) return std::nullopt;
                                         StatusEvent rendered;
                                         rendered.last_log = state->logs_after;
                                         const auto status = status_of(*current, prefix, with_logs,
                                                                       state->logs_after, &rendered.last_log);
                                         rendered.text = "data: " + core::json_text(status) + "\n\n";
                                         rendered.has_new_logs = with_logs && !status["logs"].empty();
                                         rendered.finished = is_finished(current->status);
                                         return rendered;
                                       });
                if (!event) return false;
                if (event->text == state->last_sent && !event->has_new_logs) continue;
                if (!sink.write(event->text.data(), event->text.size())) return false;
                state->last_sent = event->text;
                state->logs_after = event->last_log;
                state->last_write = std::chrono::steady_clock::now();
                if (event->finished) {
                  sink.done();
                  return true;
                }
                std::this_thread::sleep_for(kStreamMinEventInterval);
              }
            });
      });

  server_->Get(std::string(kPrefix) + "/requests/" + kRequestId,
               [=](const httplib::Request& request, httplib::Response& response) {
                 const auto caller = authorize(keys, request, response);
                 if (!caller) return;
                 const auto job = find_job(caller->owner, request.matches[2], response);
                 if (!job) return;
                 if (!is_finished(job->status)) {
                   reply_detail(response, 400, "Request is still in progress");
                   return;
                 }
                 // A request error names its type in the header too; a start timeout is the user's own
                 // (the official client does not retry it).
                 const auto body = json::parse(job->result_json, nullptr, false);
                 if (body.is_object() && body.contains("error_type") && body["error_type"].is_string()) {
                   const std::string type = body["error_type"].get<std::string>();
                   response.set_header("X-Fal-Error-Type", type);
                   if (type == kRequestTimeout) response.set_header("X-Fal-Request-Timeout-Type", "user");
                 }
                 response.status = job->http_status;
                 response.set_content(job->result_json, "application/json");
               });

  server_->Put(std::string(kPrefix) + "/requests/" + kRequestId + "/cancel",
               [=, this](const httplib::Request& request, httplib::Response& response) {
                 const auto caller = authorize(keys, request, response);
                 if (!caller) return;
                 const auto job = find_job(caller->owner, request.matches[2], response);
                 if (!job) return;
                 const core::Cancelled cancelled("the request was cancelled before it ran");
                 auto body = ordered_json::parse(cancelled.detail_json());
                 body["error_type"] = kClientCancelled;
                 body["status"] = cancelled.http_status();
                 body["billing"] = {{"units", 0}, {"cost_usd", "0.00"}};
                 const auto outcome =
                     store_.request_cancel(job->id, core::json_text(body), cancelled.http_status());
                 if (!outcome) {
                   reply_json(response, 400, ordered_json{{"status", "ALREADY_COMPLETED"}});
                   return;
                 }
                 if (*outcome == StoredJobStatus::running && workers_) workers_->job_cancelled(job->id);
                 log().info("job {}: cancellation requested ({})", job->id, to_string(*outcome));
                 reply_json(response, 202, ordered_json{{"status", "CANCELLATION_REQUESTED"}});
               });

  // The key's history, newest first, a page at a time (the cursor is the last page's next_cursor).
  server_->Get(std::string(kPrefix) + "/requests", [=, this](const httplib::Request& request,
                                                             httplib::Response& response) {
    const auto caller = authorize(keys, request, response);
    if (!caller) return;
    std::vector<core::Problem> problems;
    const auto filter = parse_list_filter(request.get_param_value("status"));
    if (!filter) {
      problems.push_back(
          {{"query", "status"},
           "status \"" + request.get_param_value("status") +
               "\" is not a state: use IN_QUEUE, IN_PROGRESS, COMPLETED, succeeded, failed or cancelled "
               "(or leave it out for every job)",
           "literal_error"});
    }
    const auto limit = parse_query_integer(request, "limit", kDefaultPageSize, 1, kMaxPageSize, problems);
    const auto before =
        parse_query_integer(request, "cursor", 0, 1, std::numeric_limits<int64_t>::max(), problems);
    if (!problems.empty()) {
      response.status = 422;
      response.set_content(core::InvalidInput(problems).detail_json(), "application/json");
      return;
    }
    const auto page = store_.list_jobs(caller->owner, *filter, static_cast<int>(limit), before);
    ordered_json items = ordered_json::array();
    for (const auto& job : page.jobs)
      items.push_back(history_item(job, settings_.public_url, request.matches[1]));
    reply_json(
        response, 200,
        ordered_json{{"requests", std::move(items)},
                     {"next_cursor", page.next_before > 0 ? ordered_json(std::to_string(page.next_before))
                                                          : ordered_json(nullptr)}});
  });

  // A finished job's data: its folder goes and its file URLs stop working; its record stays for usage.
  server_->Delete(std::string(kPrefix) + "/requests/" + kRequestId, [=, this](const httplib::Request& request,
                                                                              httplib::Response& response) {
    const auto caller = authorize(keys, request, response);
    if (!caller) return;
    const auto job = find_job(caller->owner, request.matches[2], response);
    if (!job) return;
    if (!is_finished(job->status)) {
      reply_detail(response, 409,
                   "Request " + job->id + " is " + std::string(queue_state(job->status)) +
                       ": cancel it first (PUT .../cancel), then delete it once it is COMPLETED");
      return;
    }
    delete_job_data(store_, settings_.jobs_dir, job->id);
    log().info("job {}: data deleted on request", job->id);
    reply_json(response, 200, ordered_json{{"request_id", job->id}, {"deleted", true}});
  });

  // The dashboard's routes (issue 26): the request's parameters for the form, the dataset check before
  // paying, and a job's training curves.
  server_->Get(std::string(kPrefix) + "/schema", [](const httplib::Request&, httplib::Response& response) {
    reply_json(response, 200, request_schema());
  });

  server_->Post(std::string(kPrefix) + "/dataset-check", [=, this](const httplib::Request& request,
                                                                   httplib::Response& response) {
    const auto caller = authorize(keys, request, response);
    if (!caller) return;
    const auto check = check_training_request(request.body, settings_.local_files);
    std::vector<core::Problem> problems = check.problems;
    if (check.request) add_upload_problems(*check.request, caller->owner, problems);
    if (!problems.empty()) {
      response.status = 422;
      response.set_content(core::InvalidInput(problems).detail_json(), "application/json");
      return;
    }
    if (!workers_) {
      reply_detail(response, 503, "this server runs no jobs, so it checks no datasets");
      return;
    }
    try {
      reply_json(response, 200, workers_->check_dataset(*check.request, caller->owner));
    } catch (const core::Error& error) {  // the archive could not be fetched or read, as a job would fail
      response.status = error.http_status();
      response.set_content(error.detail_json(), "application/json");
    }
  });

  server_->Get(std::string(kPrefix) + "/requests/" + kRequestId + "/metrics",
               [=, this](const httplib::Request& request, httplib::Response& response) {
                 const auto caller = authorize(keys, request, response);
                 if (!caller) return;
                 const auto job = find_job(caller->owner, request.matches[2], response);
                 if (!job) return;
                 const JobPaths paths(settings_.jobs_dir / job->id);
                 reply_json(response, 200, metrics_series(paths.training_dir() / "metrics.jsonl"));
               });

  // The key's usage over [from, to): jobs finished in it by outcome, billed units and their cost.
  server_->Get("/usage", [=, this](const httplib::Request& request, httplib::Response& response) {
    const auto caller = authorize(keys, request, response);
    if (!caller) return;
    std::vector<core::Problem> problems;
    const auto from = parse_time(request, "from", kBeginningOfTime, problems);
    const auto to = parse_time(request, "to", kNoEnd, problems);
    if (!problems.empty()) {
      response.status = 422;
      response.set_content(core::InvalidInput(problems).detail_json(), "application/json");
      return;
    }
    const auto usage = store_.usage(from, to, caller->owner);
    reply_json(response, 200, usage_json(usage.empty() ? KeyUsage{caller->owner} : usage.front(), from, to));
  });

  // Capability URLs: the token is the authorization (DECISIONS.md §30): result files and previews, and
  // completed uploads. Ranges come with the content provider (206 for Range requests).
  server_->Get(std::string("/files/") + kToken + "/([^/]+)", [this](const httplib::Request& request,
                                                                    httplib::Response& response) {
    const std::string token = request.matches[1].str();
    std::optional<std::filesystem::path> path;
    std::string file_name, content_type;
    if (const auto file = store_.file(token)) {
      path = file->path;
      file_name = file->file_name;
      content_type = file->content_type;
    } else if (const auto upload = uploads_->completed(token)) {
      path = uploads_->file_path(*upload);
      file_name = upload->file_name;
      content_type = upload->content_type;
    }
    std::error_code error;
    const auto size = path ? std::filesystem::file_size(*path, error) : 0;
    const auto requested_name = percent_decode(request.matches[2].str());
    if (!path || !requested_name || *requested_name != file_name || error) {
      reply_detail(response, 404, "File not found");
      return;
    }
    response.set_header("Content-Disposition", "attachment; filename=\"" + file_name + "\"");
    response.set_content_provider(size, content_type,
                                  [path = *path](size_t offset, size_t length, httplib::DataSink& sink) {
                                    std::ifstream in(path, std::ios::binary);
                                    in.seekg(static_cast<std::streamoff>(offset));
                                    std::vector<char> buffer(std::min<size_t>(length, size_t{1} << 20));
                                    while (length > 0 && in) {
                                      const size_t chunk = std::min(length, buffer.size());
                                      in.read(buffer.data(), static_cast<std::streamsize>(chunk));
                                      const auto got = static_cast<size_t>(in.gcount());
                                      if (got == 0 || !sink.write(buffer.data(), got)) return false;
                                      length -= got;
                                    }
                                    return length == 0;
                                  });
  });

  // The public keys of webhook signatures (DECISIONS.md §36): no key needed, as the hosted JWKS.
  server_->Get("/.well-known/jwks.json", [this](const httplib::Request&, httplib::Response& response) {
    if (!settings_.webhook_signer) {
      reply_detail(response, 404, "This server does not sign webhooks");
      return;
    }
    response.set_header("Cache-Control", "public, max-age=300");
    reply_json(response, 200, settings_.webhook_signer->jwks());
  });

  // A handler that throws: an error of ours answers with its status and body; anything else is logged
  // and answered without its message (cpp-httplib would put it in a header, server paths and all).
  server_->set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr thrown) {
        try {
          std::rethrow_exception(thrown);
        } catch (const core::Error& error) {
          if (error.kind() != core::ErrorKind::internal) {
            response.status = error.http_status();
            response.set_content(error.detail_json(), "application/json");
            return;
          }
          log().error("{} {}: {}", request.method, request.path, error.what());
        } catch (const std::exception& error) {
          log().error("{} {}: {}", request.method, request.path, error.what());
        } catch (...) {
          log().error("{} {}: an unknown exception", request.method, request.path);
        }
        reply_detail(response, 500, "Internal server error: the server's log has the details");
      });
  server_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    if (response.status == 404) {
      reply_detail(response, 404, "Not found: the queue API's routes are listed in docs/api.md");
    } else if (response.status == 413) {
      reply_detail(response, 413, "the request body is larger than this server takes (--max-upload-size)");
    } else {
      reply_detail(response, response.status,
                   response.status == 400
                       ? "Bad request: malformed HTTP (a PUT or POST needs a body or Content-Length: 0)"
                       : fmt::format("HTTP {}", response.status));
    }
  });
}

void QueueApi::add_site_routes() {
  // The dashboard (service/static_site.h): index.html at "/", its modules and styles under /ui/. Its
  // pages are public; what they show comes from the key-checked routes.
  const auto site_files = settings_.site_files;
  if (site_files.empty()) return;
  const auto serve_file = [site_files](std::string_view path, httplib::Response& response) {
    for (const auto& file : site_files) {
      if (file.path != path) continue;
      response.set_header("Cache-Control", "no-cache");
      response.set_header("X-Content-Type-Options", "nosniff");
      response.set_content(std::string(file.bytes), std::string(file.content_type));
      return;
    }
    reply_detail(response, 404, "Not found: " + std::string(path));
  };
  server_->Get(
      "/", [serve_file](const httplib::Request&, httplib::Response& response) { serve_file("/", response); });
  server_->Get(R"(/ui/[A-Za-z0-9_./-]+)",
               [serve_file](const httplib::Request& request, httplib::Response& response) {
                 serve_file(request.path, response);
               });
}

void QueueApi::add_operations_routes() {
  // The process is up.
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    reply_json(response, 200, ordered_json{{"status", "ok"}});
  });
  // It can take work: the store answers, the workers run, the data folder has room.
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
    ordered_json checks = ordered_json::object();
    bool ready = true;
    try {
      store_.status_counts();
      checks["store"] = "ok";
    } catch (const std::exception& error) {
      log().error("readyz: the store does not answer: {}", error.what());
      checks["store"] = "unreachable";
      ready = false;
    }
    const bool workers = workers_ == nullptr || workers_->alive();
    checks["workers"] = workers_ == nullptr ? "none in this process" : (workers ? "ok" : "not all alive");
    ready = ready && workers;
    std::error_code error;
    const auto space = std::filesystem::space(settings_.jobs_dir.parent_path(), error);
    const bool room = !error && space.available >= settings_.min_free_disk_bytes;
    checks["free_disk_bytes"] = error ? ordered_json(nullptr) : ordered_json(space.available);
    checks["disk"] = room ? "ok" : "below the floor";
    ready = ready && room;
    reply_json(response, ready ? 200 : 503,
               ordered_json{{"status", ready ? "ready" : "not ready"}, {"checks", checks}});
  });
  // Prometheus' text format.
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    std::map<StoredJobStatus, int64_t> counts;
    for (const auto& [status, count] : store_.status_counts()) counts[status] = count;
    std::string text =
        "# HELP avtrain_jobs_waiting Jobs waiting in the queue.\n# TYPE avtrain_jobs_waiting gauge\n";
    text += fmt::format("avtrain_jobs_waiting {}\n", counts[StoredJobStatus::queued]);
    text += "# HELP avtrain_jobs Jobs in the store by state.\n# TYPE avtrain_jobs gauge\n";
    for (const auto status : {StoredJobStatus::queued, StoredJobStatus::running, StoredJobStatus::succeeded,
                              StoredJobStatus::failed, StoredJobStatus::cancelled}) {
      text += fmt::format("avtrain_jobs{{state=\"{}\"}} {}\n", to_string(status), counts[status]);
    }
    if (workers_) text += workers_->metrics_text();
    response.set_content(text, "text/plain; version=0.0.4");
  });
}

void QueueApi::add_storage_routes() {
  const ApiKeys* const keys = settings_.api_keys.get();
  const auto reply_upload = [](httplib::Response& response, const UploadAnswer& answer) {
    response.status = answer.status;
    response.set_content(answer.body, "application/json");
  };
  for (const bool multipart : {false, true}) {
    server_->Post(multipart ? "/storage/upload/initiate-multipart" : "/storage/upload/initiate",
                  [=, this](const httplib::Request& request, httplib::Response& response) {
                    const auto caller = authorize(keys, request, response);
                    if (!caller) return;
                    reply_upload(response, uploads_->initiate(caller->owner, request.body, multipart));
                  });
  }
  // The upload URLs are capabilities: the official client's PUTs carry no key. Bodies stream to disk.
  const auto streamed = [](const httplib::ContentReader& reader) -> BodyReader {
    return [&reader](const std::function<bool(const char*, size_t)>& chunk) {
      return reader([&chunk](const char* data, size_t size) { return chunk(data, size); });
    };
  };
  const auto empty_body = [](const std::function<bool(const char*, size_t)>&) { return true; };
  const std::string file_route = std::string("/storage/upload/") + kToken;
  const std::string part_route = file_route + "/([0-9]{1,9})";
  server_->Put(file_route, [=, this](const httplib::Request& request, httplib::Response& response,
                                     const httplib::ContentReader& reader) {
    const auto answer = uploads_->write_file(request.matches[1].str(), streamed(reader));
    if (answer.status != 200) response.set_header("Connection", "close");
    reply_upload(response, answer);
  });
  server_->Put(file_route, [=, this](const httplib::Request& request, httplib::Response& response) {
    reply_upload(response, uploads_->write_file(request.matches[1].str(), empty_body));
  });
  server_->Put(part_route, [=, this](const httplib::Request& request, httplib::Response& response,
                                     const httplib::ContentReader& reader) {
    const auto answer =
        uploads_->write_part(request.matches[1].str(), std::stoi(request.matches[2].str()), streamed(reader));
    if (answer.status != 200) response.set_header("Connection", "close");
    reply_upload(response, answer);
  });
  server_->Put(part_route, [=, this](const httplib::Request& request, httplib::Response& response) {
    reply_upload(response, uploads_->write_part(request.matches[1].str(), std::stoi(request.matches[2].str()),
                                                empty_body));
  });
  server_->Post(file_route + "/complete",
                [=, this](const httplib::Request& request, httplib::Response& response) {
                  reply_upload(response, uploads_->complete(request.matches[1].str(), request.body));
                });
}

}  // namespace avtrain::service
