#pragma once
// What the HTTP API and whoever runs the jobs (the JobRunner of the same process) tell each other, so
// that the API itself needs nothing of the job pipeline: a submission wakes an idle worker, a recorded
// cancel stops a running job, and the API's health and metrics routes ask after the workers. The store
// holds submissions and cancels either way; these make them take effect at once. The dashboard's
// dataset check runs here too, with the jobs' own fetch access and size overrides.
#include <nlohmann/json.hpp>
#include <string>

#include "service/request/training_request.h"

namespace avtrain::service {

class Workers {
 public:
  virtual ~Workers() = default;
  // A job was queued.
  virtual void job_submitted() = 0;
  // A running job's cancellation was recorded in the store: stop it at its next clean point.
  virtual void job_cancelled(const std::string& request_id) = 0;
  // Whether every worker is alive (GET /readyz).
  virtual bool alive() const = 0;
  // The workers' own metrics in Prometheus' text format (GET /metrics): steps per second and device
  // memory per worker, webhook deliveries.
  virtual std::string metrics_text() const = 0;
  // The dataset check of POST {prefix}/dataset-check: the report training would make of the request's
  // archive (fetched as `owner`'s job would fetch it, with the server's size overrides), its fitted size
  // and its billing (service/job_pipeline.h dataset_check_json). Throws core::Error as a job would fail.
  virtual nlohmann::ordered_json check_dataset(const TrainingRequest& request,
                                               const std::string& owner) const = 0;
};

}  // namespace avtrain::service
