#pragma once
// The HTTP queue API (issue 13, 24), a drop-in for the hosted queue (specs/anchors.md §4.1) so that its
// official clients work by changing only the host. docs/api.md documents every route. Under any
// /{owner}/{alias} prefix (the endpoint id's first two parts) and under /v1:
//   POST {prefix}/av2av[?fal_webhook=URL]        queue a job (422 with the detail body when invalid)
//   GET  {prefix}/requests/{id}/status[?logs=1]  202 IN_QUEUE | IN_PROGRESS, 200 COMPLETED (+ stage,
//                                                progress, outcome, notes, previews)
//   GET  {prefix}/requests/{id}/status/stream    the same as server-sent events, closed after COMPLETED
//   GET  {prefix}/requests/{id}                  the result, or the failed job's error body and status
//   PUT  {prefix}/requests/{id}/cancel           202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED
// and at the root:
//   GET  /files/{token}/{name}                   a result file or an upload by capability URL (§30)
//   GET  /.well-known/jwks.json                  the public keys that verify webhook signatures (§36)
//   POST /storage/upload/initiate[-multipart]    the official client's uploads (service/uploads.h, §38)
//   PUT  /storage/upload/{token}[/{part}], POST /storage/upload/{token}/complete
//   GET  {prefix}/requests?status=&limit=&cursor= the key's history, newest first
//   DELETE {prefix}/requests/{id}                 a finished job's data (409 while it runs)
//   GET  /usage?from=&to=                         the key's jobs and units over a period
//   GET  /healthz, /readyz, /metrics              operations (no key: restrict them by network)
// and for the dashboard (issue 26):
//   GET  /, /ui/...                               the dashboard's page and modules (embedded)
//   GET  {prefix}/schema                          the request's fields: defaults, ranges, help
//   POST {prefix}/dataset-check                   the dataset report training would make (no job)
//   GET  {prefix}/requests/{id}/metrics           the training curves, at most 2,000 points each
//   POST {prefix}/infer                           try a trained LoRA on a new clip (a job, billed 0)
// Every job, history, usage and upload-initiating route needs the submitting key (`Authorization: Key K`
// or `Bearer K`) when keys are configured; another key's job is 404. Files, upload URLs, the JWKS and
// the operations routes need no key.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "service/api_keys.h"
#include "service/request/resource_location.h"
#include "service/request/training_request.h"
#include "service/shared_status_events.h"
#include "service/static_site.h"
#include "service/uploads.h"

namespace httplib {
class Server;
}

namespace avtrain::service {

class JobStore;
class Workers;
class WebhookSigner;

struct ApiSettings {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  // Base of every URL the API hands out; empty: http://host:port of the bound socket.
  std::string public_url;
  std::shared_ptr<const ApiKeys> api_keys;  // null: no authentication (loopback only)
  LocalFilePolicy local_files = LocalFilePolicy::refuse_all();
  std::filesystem::path jobs_dir;     // DATA/jobs: DELETE removes a job's folder there
  std::filesystem::path uploads_dir;  // DATA/uploads
  uint64_t max_upload_bytes = kDefaultMaxUploadBytes;
  // GET /readyz fails while the data folder's free space is below this.
  uint64_t min_free_disk_bytes = uint64_t{1} << 30;
  WebhookSigner* webhook_signer = nullptr;  // publishes /.well-known/jwks.json when set
  // The dashboard served at "/" and "/ui/" (dashboard_files()); empty: none.
  std::span<const SiteFile> site_files;
};

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
  // The uploads the storage routes take (the runner resolves requests' upload URLs through it).
  Uploads& uploads() { return *uploads_; }

  // Serves requests until stop(); submissions and cancels are told to `workers` (none: the store alone).
  void serve(Workers* workers);
  // Ends serve() (from any thread; open event streams end within a second).
  void stop();

 private:
  void add_site_routes();
  void add_routes();
  void add_storage_routes();
  void add_operations_routes();
  // The problem of an upload URL that is not `owner`'s completed upload (§38); other URLs pass.
  void add_upload_problem(const std::string& url, const std::string& field, const std::string& owner,
                          std::vector<core::Problem>& problems) const;
  // The same for every location of a training request.
  void add_upload_problems(const TrainingRequest& request, const std::string& owner,
                           std::vector<core::Problem>& problems) const;

  JobStore& store_;
  ApiSettings settings_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<Uploads> uploads_;
  SharedStatusEvents status_events_;  // what the open status streams send, rendered once per change
  int port_ = 0;
  Workers* workers_ = nullptr;
  std::atomic<bool> stopping_{false};
};

}  // namespace avtrain::service
