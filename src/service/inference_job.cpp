#include "service/inference_job.h"

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/progress.h"
#include "service/fetch.h"
#include "service/folder_lock.h"
#include "service/inference.h"
#include "service/queue_errors.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// The reference at `url` (field `field`), fetched into download/ unless it is a local or uploaded file.
fs::path fetch_reference(const std::string& url, const std::string& field, const std::string& stem,
                         const JobPaths& paths, FetchOptions fetch_options, core::Progress& progress) {
  fetch_options.field = field;
  fs::create_directories(paths.download_dir());
  const auto extension = fs::path(archive_file_name(url)).extension().string();
  return fetch(url, paths.download_dir() / (stem + extension), fetch_options, &progress).path;
}

ordered_json run(const InferenceRequest& request, const JobPaths& paths, const fs::path& lora,
                 const models::ModelFiles& files, const JobOptions& options, core::Progress& progress) {
  auto& log = core::logger("job");
  if (!fs::exists(lora)) {
    throw core::InvalidInput({core::Problem{{"body", "request_id"},
                                            "the LoRA of request " + request.request_id +
                                                " is gone (its data was deleted): train again to try it",
                                            "value_error"}});
  }
  for (const auto& note : request.notes) log.info("request: {}", note);
  InferenceSettings settings;
  settings.lora = lora;
  {
    auto downloading = progress.stage("downloading", 0.0, 0.1);
    settings.reference_video = fetch_reference(request.reference_video_url, "reference_video_url",
                                               "reference_video", paths, options.fetch, downloading);
    if (request.reference_audio_url) {
      settings.reference_audio = fetch_reference(*request.reference_audio_url, "reference_audio_url",
                                                 "reference_audio", paths, options.fetch, downloading);
    }
  }
  settings.prompt = request.prompt;
  settings.negative_prompt = request.negative_prompt;
  settings.frames = options.overrides.frames.value_or(request.number_of_frames);
  settings.fps = request.frame_rate;
  const VideoSize size = request.size();
  settings.size = {options.overrides.width.value_or(size.width),
                   options.overrides.height.value_or(size.height)};
  settings.steps = request.num_inference_steps;
  settings.seed = static_cast<uint64_t>(request.seed);
  settings.lora_strength = request.lora_strength;
  settings.stg_scale = request.stg_scale;
  settings.auto_scale = request.auto_scale_input;
  settings.device = options.device;
  // bf16 on an accelerator as the reference samples; float32 on the CPU.
  settings.dtype = options.device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  fs::create_directories(paths.outputs_dir());
  const fs::path generated = paths.outputs_dir() / "generated.mp4";
  {
    auto generating = progress.stage("generating", 0.1, 1.0);
    run_inference(settings, files, generated, generating);
  }
  return {{"video", file_entry(generated, "video/mp4", options)},
          {"billing", {{"units", 0}, {"cost_usd", "0.00"}}}};
}

}  // namespace

JobRun run_inference_job(const InferenceRequest& request, const JobPaths& paths, const fs::path& lora,
                         const models::ModelFiles& files, const JobOptions& options,
                         core::Progress& progress) {
  fs::create_directories(paths.root);
  const FolderLock lock(paths.root, "job folder");
  core::LogFileSink log_file(paths.log_file().string());
  std::error_code ignored;
  fs::remove(paths.result_file(), ignored);
  fs::remove(paths.error_file(), ignored);
  write_file_atomically(paths.request_file(), core::json_text(to_json(request), 2) + "\n");
  const auto failure = [&](const core::Error& error) {
    core::logger("job").error("job failed: {}", error.what());
    auto body = ordered_json::parse(error.detail_json());
    if (error.kind() == core::ErrorKind::cancelled) body["error_type"] = kClientCancelled;
    body["status"] = error.http_status();
    body["billing"] = {{"units", 0}, {"cost_usd", "0.00"}};
    write_file_atomically(paths.error_file(), core::json_text(body, 2) + "\n");
    return JobRun{error.exit_code(), std::move(body)};
  };
  try {
    auto result = run(request, paths, lora, files, options, progress);
    write_file_atomically(paths.result_file(), core::json_text(result, 2) + "\n");
    return {0, std::move(result)};
  } catch (const core::Error& error) {
    return failure(error);
  } catch (const c10::Error& error) {
    return failure(core::InternalError(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    return failure(core::InternalError(error.what()));
  }
}

}  // namespace avtrain::service
