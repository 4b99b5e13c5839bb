#include "service/http_api.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "service/job_runner.h"
#include "service/job_store.h"
#include "service/network_address.h"
#include "service/queue_errors.h"
#include "service/request/training_request.h"
#include "service/webhook.h"
#include "service/webhook_signing.h"

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

// A request error of the queue (queue_errors.h): its body and the X-Fal-Error-Type header.
void reply_request_error(httplib::Response& response, std::string_view error_type, int status,
                         const std::string& message) {
  response.set_header("X-Fal-Error-Type", std::string(error_type));
  ordered_json body{{"detail", message}, {"error_type", error_type}};
  reply_json(response, status, body);
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

}  // namespace

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
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_logger([](const httplib::Request& request, const httplib::Response& response) {
    log().debug("{} {} -> {}", request.method, request.path, response.status);
  });
  add_routes();
  add_storage_routes();
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

namespace {

// The caller's key identity ("" without keys), or nullopt after answering 401.
std::optional<std::string> authorize(const ApiKeys& keys, const httplib::Request& request,
                                     httplib::Response& response) {
  if (keys.empty()) return std::string();
  const std::string header = request.get_header_value("Authorization");
  for (const std::string scheme : {"Key ", "Bearer "}) {
    if (header.rfind(scheme, 0) != 0) continue;
    if (auto identity = keys.identify(std::string_view(header).substr(scheme.size()))) return identity;
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

void QueueApi::add_routes() {
  const auto& keys = settings_.api_keys;
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
    status["notes"] = job.notes;
    ordered_json previews = ordered_json::array();
    for (const auto& preview : store_.previews(job.id)) {
      previews.push_back({{"step", preview.step},
                          {"url", settings_.public_url + "/files/" + preview.token + "/" +
                                      url_path_segment(preview.file_name)},
                          {"file_size", preview.file_size}});
    }
    status["previews"] = std::move(previews);
    return status;
  };
  const auto wants_logs = [](const httplib::Request& request) {
    const auto value = request.get_param_value("logs");
    return value == "1" || value == "true";
  };

  server_->Post(std::string(kPrefix) + "/av2av", [=, this, &keys](const httplib::Request& request,
                                                                  httplib::Response& response) {
    const auto owner = authorize(keys, request, response);
    if (!owner) return;
    const auto deadline = start_deadline(request, response);
    if (!deadline) return;
    const std::string webhook = request.get_param_value("fal_webhook");
    std::vector<core::Problem> problems;
    if (request.has_param("fal_webhook")) {
      if (const auto problem = webhook_url_problem(webhook)) {
        problems.push_back({{"query", "fal_webhook"}, *problem, "value_error"});
      }
    }
    const auto check = check_training_request(request.body, settings_.local_files);
    problems.insert(problems.end(), check.problems.begin(), check.problems.end());
    if (check.request) {
      // The server's own upload URLs must be this key's completed uploads (DECISIONS.md §38).
      const auto check_upload = [&](const std::string& url, const std::string& field) {
        if (!uploads_->is_upload_url(url)) return;
        try {
          uploads_->resolve(url, *owner, field);
        } catch (const core::InvalidInput& error) {
          problems.insert(problems.end(), error.problems().begin(), error.problems().end());
        }
      };
      check_upload(check.request->training_data_url, "training_data_url");
      for (size_t idx = 0; idx < check.request->validation.size(); ++idx) {
        const auto& entry = check.request->validation[idx];
        const std::string field = fmt::format("validation[{}]", idx);
        check_upload(entry.reference_video_url, field + ".reference_video_url");
        if (entry.reference_audio_url)
          check_upload(*entry.reference_audio_url, field + ".reference_audio_url");
      }
    }
    if (!problems.empty()) {
      response.set_header("X-Fal-Retryable", "false");
      response.status = 422;
      response.set_content(core::InvalidInput(problems).detail_json(), "application/json");
      return;
    }
    const auto& notes = check.request->notes;
    const bool no_retry = header_is_true(request.get_header_value("x-fal-no-retry"));
    const std::string id =
        store_.submit({*owner, to_json(*check.request).dump(), webhook, notes, *deadline, no_retry});
    for (const auto& note : notes) store_.append_log(id, {0, now_ms(), "INFO", "request: " + note});
    if (runner_) runner_->notify_submitted();
    const auto urls = job_urls(settings_.public_url, request.matches[1], id);
    log().info(
        "job {} queued{}{}", id, webhook.empty() ? "" : " (with a webhook)",
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
  });

  // 202 while the job is queued or running, 200 once it is completed (DECISIONS.md §37).
  server_->Get(std::string(kPrefix) + "/requests/" + kRequestId + "/status",
               [=, &keys](const httplib::Request& request, httplib::Response& response) {
                 const auto owner = authorize(keys, request, response);
                 if (!owner) return;
                 const auto job = find_job(*owner, request.matches[2], response);
                 if (!job) return;
                 reply_json(response, is_finished(job->status) ? 200 : 202,
                            status_of(*job, request.matches[1], wants_logs(request), 0));
               });

  server_->Get(
      std::string(kPrefix) + "/requests/" + kRequestId + "/status/stream",
      [=, this, &keys](const httplib::Request& request, httplib::Response& response) {
        const auto owner = authorize(keys, request, response);
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
               [=, &keys](const httplib::Request& request, httplib::Response& response) {
                 const auto owner = authorize(keys, request, response);
                 if (!owner) return;
                 const auto job = find_job(*owner, request.matches[2], response);
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
               [=, this, &keys](const httplib::Request& request, httplib::Response& response) {
                 const auto owner = authorize(keys, request, response);
                 if (!owner) return;
                 const auto job = find_job(*owner, request.matches[2], response);
                 if (!job) return;
                 const core::Cancelled cancelled("the request was cancelled before it ran");
                 auto body = ordered_json::parse(cancelled.detail_json());
                 body["error_type"] = kClientCancelled;
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

void QueueApi::add_storage_routes() {
  const auto& keys = settings_.api_keys;
  const auto reply_upload = [](httplib::Response& response, const UploadAnswer& answer) {
    response.status = answer.status;
    response.set_content(answer.body, "application/json");
  };
  for (const bool multipart : {false, true}) {
    server_->Post(multipart ? "/storage/upload/initiate-multipart" : "/storage/upload/initiate",
                  [=, this, &keys](const httplib::Request& request, httplib::Response& response) {
                    const auto owner = authorize(keys, request, response);
                    if (!owner) return;
                    reply_upload(response, uploads_->initiate(*owner, request.body, multipart));
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
