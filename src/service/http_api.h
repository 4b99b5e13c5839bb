#pragma once
// The HTTP queue API (issue 13), a drop-in for the hosted queue (specs/anchors.md §4.1) so that its
// official clients work by changing only the host. Routes under any /{owner}/{alias} prefix (the
// endpoint id's first two parts) and under /v1:
//   POST {prefix}/av2av[?fal_webhook=URL]        queue a job (422 with the detail body when invalid)
//   GET  {prefix}/requests/{id}/status[?logs=1]  IN_QUEUE | IN_PROGRESS | COMPLETED (+ stage, progress,
//   outcome) GET  {prefix}/requests/{id}/status/stream    the same as server-sent events, closed after
//   COMPLETED GET  {prefix}/requests/{id}                  the result, or the failed job's error body and
//   status PUT  {prefix}/requests/{id}/cancel           202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED
//   GET  /files/{token}/{name}                   a result file by capability URL (DECISIONS.md §30)
// Every job route needs the submitting key (`Authorization: Key K` or `Bearer K`) when keys are
// configured; another key's job is 404. Files need no key.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "service/request/resource_location.h"

namespace httplib {
class Server;
}

namespace avtrain::service {

class JobStore;
class JobRunner;

struct ApiSettings {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  // Base of every URL the API hands out; empty: http://host:port of the bound socket.
  std::string public_url;
  std::vector<std::string> api_keys;  // empty: no authentication (loopback only)
  LocalFilePolicy local_files = LocalFilePolicy::refuse_all();
};

// Reads an API key file: one key per line; blank lines and lines starting with '#' are skipped.
// Throws core::InvalidInput naming the file when it cannot be read or holds no key.
std::vector<std::string> read_api_keys(const std::string& path);

class QueueApi {
 public:
  // Binds the socket (throws core::InvalidInput naming the address when it cannot). Without API keys
  // only a loopback host is accepted.
  QueueApi(JobStore& store, ApiSettings settings);
  ~QueueApi();
  QueueApi(const QueueApi&) = delete;
  QueueApi& operator=(const QueueApi&) = delete;

  int port() const { return port_; }
  const std::string& public_url() const { return settings_.public_url; }

  // Serves requests until stop(); submissions wake `runner`'s workers, cancels reach its jobs.
  void serve(JobRunner& runner);
  // Ends serve() (from any thread; open event streams end within a second).
  void stop();

 private:
  void add_routes();

  JobStore& store_;
  ApiSettings settings_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  JobRunner* runner_ = nullptr;
  std::atomic<bool> stopping_{false};
};

}  // namespace avtrain::service
