#include "service/http_api.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "service/job_runner.h"
#include "service/job_store.h"
#include "service/network_address.h"
#include "service/request/training_request.h"
#include "service/webhook.h"

namespace avtrain::service {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

spdlog::logger& log() { return core::logger("service"); }

// A job's prefix: the endpoint id's owner/alias (any), or /v1.
constexpr const char* kPrefix = R"((/v1|/[^/]+/[^/]+))";
constexpr const char* kRequestId = R"(([0-9a-f-]{36}))";
// How often an open status stream looks for changes.
constexpr auto kStreamPollInterval = std::chrono::milliseconds(250);
// A comment line keeps idle stream connections open through proxies.
constexpr auto kStreamKeepAlive = std::chrono::seconds(15);

void reply_json(httplib::Response& response, int status, const ordered_json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

void reply_detail(httplib::Response& response, int status, const std::string& message) {
  reply_json(response, status, ordered_json{{"detail", message}});
}

// A key's identity in the store: FNV-1a 64 of the key, so the database holds no key itself.
std::string owner_of_key(const std::string& key) {
  uint64_t hash = 1469598103934665603ull;
  for (const unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("key-{:016x}", hash);
}

std::string iso8601(int64_t ms) {
  const std::time_t seconds = ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms % 1000);
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

}  // namespace

std::vector<std::string> read_api_keys(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw core::InvalidInput("--api-keys " + path + " cannot be read: give a file with one API key per line");
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    const auto begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos || line[begin] == '#') continue;
    const auto end = line.find_last_not_of(" \t\r");
    keys.push_back(line.substr(begin, end - begin + 1));
  }
  if (keys.empty())
    throw core::InvalidInput("--api-keys " + path + " holds no key: write one API key per line");
  return keys;
}

QueueApi::QueueApi(JobStore& store, ApiSettings settings)
    : store_(store), settings_(std::move(settings)), server_(std::make_unique<httplib::Server>()) {
  if (settings_.api_keys.empty() && !is_loopback_host(settings_.host)) {
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
  if (settings_.api_keys.empty())
    log().warn("no --api-keys: no authentication, loopback only ({})", settings_.host);
  server_->set_payload_max_length(size_t{1} << 20);
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_logger([](const httplib::Request& request, const httplib::Response& response) {
    log().debug("{} {} -> {}", request.method, request.path, response.status);
  });
  add_routes();
}

QueueApi::~QueueApi() = default;

void QueueApi::serve(JobRunner& runner) {
  runner_ = &runner;
  server_->listen_after_bind();
}

void QueueApi::stop() {
  stopping_ = true;
  server_->stop();
}

void QueueApi::add_routes() {
  // The key of a job route's caller: its owner identity, or nullopt after answering 401.
  const auto authorize = [this](const httplib::Request& request,
                                httplib::Response& response) -> std::optional<std::string> {
    if (settings_.api_keys.empty()) return std::string();
    const std::string header = request.get_header_value("Authorization");
    for (const std::string scheme : {"Key ", "Bearer "}) {
      if (header.rfind(scheme, 0) != 0) continue;
      const std::string key = header.substr(scheme.size());
      for (const auto& known : settings_.api_keys) {
        if (key == known) return owner_of_key(key);
      }
    }
    response.set_header("WWW-Authenticate", "Key");
    reply_detail(response, 401,
                 header.empty() ? "Missing Authorization header: send 'Authorization: Key <your API key>'"
                                : "Invalid API key in the Authorization header");
    return std::nullopt;
  };
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
    ordered_json status{{"status", queue_state(job.status)}, {"request_id", job.id}};
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
    return status;
  };
  const auto wants_logs = [](const httplib::Request& request) {
    const auto value = request.get_param_value("logs");
    return value == "1" || value == "true";
  };

  server_->Post(std::string(kPrefix) + "/av2av",
                [=, this](const httplib::Request& request, httplib::Response& response) {
                  const auto owner = authorize(request, response);
                  if (!owner) return;
                  const std::string webhook = request.get_param_value("fal_webhook");
                  std::vector<core::Problem> problems;
                  if (request.has_param("fal_webhook")) {
                    if (const auto problem = webhook_url_problem(webhook)) {
                      problems.push_back({{"query", "fal_webhook"}, *problem, "value_error"});
                    }
                  }
                  const auto check = check_training_request(request.body, settings_.local_files);
                  problems.insert(problems.end(), check.problems.begin(), check.problems.end());
                  if (!problems.empty()) {
                    response.set_header("X-Fal-Retryable", "false");
                    response.status = 422;
                    response.set_content(core::InvalidInput(problems).detail_json(), "application/json");
                    return;
                  }
                  const std::string id = store_.submit({*owner, to_json(*check.request).dump(), webhook});
                  for (const auto& note : check.request->notes)
                    store_.append_log(id, {0, now_ms(), "INFO", "request: " + note});
                  if (runner_) runner_->notify_submitted();
                  const auto urls = job_urls(settings_.public_url, request.matches[1], id);
                  log().info("job {} queued{}", id, webhook.empty() ? "" : " (with a webhook)");
                  response.set_header("x-fal-request-id", id);
                  reply_json(response, 200,
                             ordered_json{{"status", "IN_QUEUE"},
                                          {"request_id", id},
                                          {"response_url", urls.response},
                                          {"status_url", urls.status},
                                          {"cancel_url", urls.cancel},
                                          {"queue_position", store_.queue_position(id).value_or(0)}});
                });

  server_->Get(std::string(kPrefix) + "/requests/" + kRequestId + "/status",
               [=](const httplib::Request& request, httplib::Response& response) {
                 const auto owner = authorize(request, response);
                 if (!owner) return;
                 const auto job = find_job(*owner, request.matches[2], response);
                 if (!job) return;
                 reply_json(response, 200, status_of(*job, request.matches[1], wants_logs(request), 0));
               });

  server_->Get(
      std::string(kPrefix) + "/requests/" + kRequestId + "/status/stream",
      [=, this](const httplib::Request& request, httplib::Response& response) {
        const auto owner = authorize(request, response);
        if (!owner) return;
        const auto job = find_job(*owner, request.matches[2], response);
        if (!job) return;
        const std::string id = job->id, prefix = request.matches[1];
        const bool with_logs = wants_logs(request);
        // Each event carries the status and only the log lines not sent before; the stream ends
        // right after the COMPLETED event (the hosted clients wait for the end of the body).
        struct StreamState {
          std::string last_sent;
          int64_t logs_after = 0;
          std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
        };
        auto state = std::make_shared<StreamState>();
        response.set_header("Cache-Control", "no-cache");
        response.set_chunked_content_provider(
            "text/event-stream", [=, this](size_t, httplib::DataSink& sink) {
              for (;;) {
                if (stopping_ || !sink.is_writable()) return false;
                const auto current = store_.find(id);
                if (!current) return false;
                auto status = status_of(*current, prefix, with_logs, state->logs_after, &state->logs_after);
                const std::string text = status.dump();
                const bool changed = text != state->last_sent || (with_logs && !status["logs"].empty());
                if (changed) {
                  const std::string event = "data: " + text + "\n\n";
                  if (!sink.write(event.data(), event.size())) return false;
                  state->last_sent = text;
                  state->last_write = std::chrono::steady_clock::now();
                  if (is_finished(current->status)) {
                    sink.done();
                    return true;
                  }
                  return true;
                }
                if (std::chrono::steady_clock::now() - state->last_write > kStreamKeepAlive) {
                  const std::string ping = ": keepalive\n\n";
                  if (!sink.write(ping.data(), ping.size())) return false;
                  state->last_write = std::chrono::steady_clock::now();
                }
                std::this_thread::sleep_for(kStreamPollInterval);
              }
            });
      });

  server_->Get(std::string(kPrefix) + "/requests/" + kRequestId,
               [=](const httplib::Request& request, httplib::Response& response) {
                 const auto owner = authorize(request, response);
                 if (!owner) return;
                 const auto job = find_job(*owner, request.matches[2], response);
                 if (!job) return;
                 if (!is_finished(job->status)) {
                   reply_detail(response, 400, "Request is still in progress");
                   return;
                 }
                 response.status = job->http_status;
                 response.set_content(job->result_json, "application/json");
               });

  server_->Put(std::string(kPrefix) + "/requests/" + kRequestId + "/cancel",
               [=, this](const httplib::Request& request, httplib::Response& response) {
                 const auto owner = authorize(request, response);
                 if (!owner) return;
                 const auto job = find_job(*owner, request.matches[2], response);
                 if (!job) return;
                 const core::Cancelled cancelled("the request was cancelled before it ran");
                 auto body = ordered_json::parse(cancelled.detail_json());
                 body["status"] = cancelled.http_status();
                 body["billing"] = {{"units", 0}, {"cost_usd", "0.00"}};
                 const auto outcome = store_.request_cancel(job->id, body.dump(), cancelled.http_status());
                 if (!outcome) {
                   reply_json(response, 400, ordered_json{{"status", "ALREADY_COMPLETED"}});
                   return;
                 }
                 if (*outcome == StoredJobStatus::running && runner_) runner_->cancel(job->id);
                 log().info("job {}: cancellation requested ({})", job->id, to_string(*outcome));
                 reply_json(response, 202, ordered_json{{"status", "CANCELLATION_REQUESTED"}});
               });

  // Capability URLs: the token is the authorization (DECISIONS.md §30). Ranges come with the
  // content provider (206 for Range requests).
  server_->Get(R"(/files/([0-9a-f]{32})/([^/]+))", [this](const httplib::Request& request,
                                                          httplib::Response& response) {
    const auto file = store_.file(request.matches[1].str());
    std::error_code error;
    const auto size = file ? std::filesystem::file_size(file->path, error) : 0;
    if (!file || file->file_name != request.matches[2].str() || error) {
      reply_detail(response, 404, "File not found");
      return;
    }
    response.set_header("Content-Disposition", "attachment; filename=\"" + file->file_name + "\"");
    const auto path = file->path;
    response.set_content_provider(size, file->content_type,
                                  [path](size_t offset, size_t length, httplib::DataSink& sink) {
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

  server_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    if (response.status == 404) {
      reply_detail(response, 404, "Not found: the queue API's routes are listed in the README");
    } else {
      reply_detail(response, response.status,
                   response.status == 400
                       ? "Bad request: malformed HTTP (a PUT or POST needs a body or Content-Length: 0)"
                       : fmt::format("HTTP {}", response.status));
    }
  });
}

}  // namespace avtrain::service
