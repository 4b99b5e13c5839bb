#pragma once
// Validation previews of a training job (MISSION.md "Processing" step 2; DECISIONS.md §23-§25): each
// validation entry's reference clip and audio are fetched, fitted and encoded once (in the encoding
// stage, beside the training latents); at each validation step the current adapters sample every
// entry and previews/step_N.mp4 holds their reel, [reference | generated] side by side with the
// generated audio. The last step's reel is the job's `video` output.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/text/prompt_cache.h"
#include "service/fetch.h"
#include "service/job.h"
#include "service/request/training_request.h"

namespace avtrain::core {
class Progress;
class SafetensorsSet;
}  // namespace avtrain::core
namespace avtrain::models {
class VideoVaeEncoderImpl;
class AudioVaeEncoderImpl;
class TransformerModelImpl;
}  // namespace avtrain::models

namespace avtrain::service {

// The size validation samples are generated at: the request's validation bucket, frames and rate (or
// the test/demo overrides, service/job_pipeline.h).
struct ValidationShape {
  int width = 0, height = 0, frames = 0;
  double fps = 24;
};

// Fetches every validation entry's reference clip (and its separate reference audio) and checks it
// before any expensive stage (the downloading stage runs it right after the archive): the clip must
// hold a video stream, and audio must come from its own track or from reference_audio_url
// (DECISIONS.md §19). A problem is core::InvalidInput (422) at the entry's field, e.g. ["body",
// "validation", 0, "reference_video_url"], naming the URL's file name, never a server path.
// `fetch_options` says which locations may be read (`field` is set per file). Returns the products
// [{"video": path, "audio": path}, ...] prepare_validation reads.
nlohmann::json fetch_validation_references(const TrainingRequest& request, const JobPaths& paths,
                                           const FetchOptions& fetch_options, core::Progress& progress);

// Fits and encodes every validation entry's references (`references`: fetch_validation_references'
// products) into latents/validation_<i>.safetensors, with the prompt's and the negative prompt's
// contexts from `context_of`; returns the products [{"latents": path, "reference_video": path}, ...]
// the renderer reads.
nlohmann::json prepare_validation(
    const TrainingRequest& request, const JobPaths& paths, const ValidationShape& shape,
    const nlohmann::json& references, models::VideoVaeEncoderImpl& video_encoder,
    models::AudioVaeEncoderImpl& audio_encoder,
    const std::function<models::text::PromptContext(const std::string&)>& context_of,
    core::Progress& progress);

// Samples every prepared entry with `transformer` (adapters as they stand) and writes the reel to
// previews/step_<step>.mp4, returned. Loads the VAE decoders and the vocoder for the call and frees them.
std::filesystem::path render_validation(const TrainingRequest& request, const JobPaths& paths,
                                        const ValidationShape& shape, const nlohmann::json& prepared,
                                        std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                        std::shared_ptr<models::TransformerModelImpl> transformer,
                                        torch::TensorOptions options, int64_t step, core::Progress* progress);

}  // namespace avtrain::service
