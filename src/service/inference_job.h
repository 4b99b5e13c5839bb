#pragma once
// A try-it job (POST {prefix}/infer, issue 26): a finished training job's LoRA applied to a new reference
// clip in the server's queue, through the same service/inference.h as `avtrain infer`, billed 0. In its
// own folder under the data folder:
//   download/  the reference clip (and separate audio) when fetched
//   outputs/   generated.mp4
//   job.log, result.json {"video": file, "billing": {"units": 0, "cost_usd": "0.00"}} or error.json
// A rerun starts over (a try-it job is short and keeps no state worth resuming).
#include <filesystem>

#include "models/checkpoint.h"
#include "service/job.h"
#include "service/job_pipeline.h"
#include "service/request/inference_request.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::service {

// `lora` is the training job's delivered LoRA. The server's size overrides (options.overrides: width,
// height, frames) replace the request's as they do for training.
JobRun run_inference_job(const InferenceRequest& request, const JobPaths& paths,
                         const std::filesystem::path& lora, const models::ModelFiles& files,
                         const JobOptions& options, core::Progress& progress);

}  // namespace avtrain::service
