#include "service/job_pipeline.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "core/byte_text.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "dataset/archive.h"
#include "dataset/dataset_check.h"
#include "dataset/debug_archive.h"
#include "dataset/preprocess.h"
#include "models/audio/audio_config.h"
#include "models/audio/audio_vae_encoder.h"
#include "models/audio/mel_front_end.h"
#include "models/text/prompt_cache.h"
#include "models/text/prompt_encoder.h"
#include "models/transformer/transformer_model.h"
#include "models/video_vae/video_vae_encoder.h"
#include "service/disk_space.h"
#include "service/fetch.h"
#include "service/folder_lock.h"
#include "service/job_validation.h"
#include "service/queue_errors.h"
#include "service/request/billing.h"
#include "service/request/config_file.h"
#include "service/retention.h"
#include "train/lora.h"
#include "train/trainer.h"
#include "train/training_data.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

// Keys of a pair's file in latents/ (one file per pair, written once the pair is fully encoded).
constexpr const char* kVideoLatent = "video_latent";
constexpr const char* kReferenceVideoLatent = "reference_video_latent";
constexpr const char* kAudioLatent = "audio_latent";
constexpr const char* kReferenceAudioLatent = "reference_audio_latent";
constexpr const char* kVideoContext = "video_context";
constexpr const char* kAudioContext = "audio_context";

// Training checkpoints every this many steps (and at every validation step): what a rerun loses at most.
constexpr int64_t kCheckpointInterval = 250;

constexpr const char* kConfigFileName = "config.json";
constexpr const char* kDebugDatasetFileName = "debug_dataset.zip";

spdlog::logger& job_log() { return core::logger("service"); }

// The sizes the job trains and validates at: the request's, or the test/demo overrides (which replace
// both the training and the validation sizes and frame counts).
TrainingShape training_shape(const TrainingRequest& request, const JobOverrides& overrides) {
  TrainingShape shape = TrainingShape::of(request);
  if (overrides.width) shape.width = shape.validation_width = *overrides.width;
  if (overrides.height) shape.height = shape.validation_height = *overrides.height;
  if (overrides.frames) shape.frames = shape.validation_frames = *overrides.frames;
  if (overrides.steps) shape.steps = *overrides.steps;
  if (shape.width % 32 != 0 || shape.height % 32 != 0 || shape.width <= 0 || shape.height <= 0)
    throw core::InvalidInput(
        fmt::format("training size override {}x{}: use positive multiples of 32", shape.width, shape.height));
  if (shape.frames < 1 || (shape.frames - 1) % 8 != 0)
    throw core::InvalidInput(fmt::format("frame count override {}: use 8k+1 (9, 17, 25, ...)", shape.frames));
  if (shape.steps < 1) throw core::InvalidInput(fmt::format("step override {}: use at least 1", shape.steps));
  return shape;
}

ValidationShape validation_shape(const TrainingShape& shape) {
  return {shape.validation_width, shape.validation_height, shape.validation_frames,
          shape.validation_frame_rate};
}

dataset::DatasetOptions dataset_options(const TrainingRequest& request, const TrainingShape& shape) {
  dataset::DatasetOptions options;
  options.width = shape.width;
  options.height = shape.height;
  options.frames = shape.frames;
  options.frame_rate = request.frame_rate;
  options.reference_downscale = request.reference_downscale_factor;
  options.reference_temporal = request.reference_temporal_scale_factor;
  options.auto_scale_input = request.auto_scale_input;
  options.audio_normalize = request.audio_normalize;
  options.audio_preserve_pitch = request.audio_preserve_pitch;
  options.trigger_phrase = request.trigger_phrase;
  return options;
}

// Compute dtype: bf16 on an accelerator as the reference trains; float32 on the CPU, which has no
// fast bf16 matmul in LibTorch 1.13.
torch::ScalarType compute_dtype(torch::Device device) {
  return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
}

std::shared_ptr<const core::SafetensorsSet> open_checkpoint(const models::ModelFiles& files) {
  return std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open(files.checkpoint));
}

std::string base_model_name(const models::ModelFiles& files) { return files.checkpoint.stem().string(); }

// --- stages -------------------------------------------------------------------------------------

// The archive, then every validation reference, fetched and checked before anything expensive runs.
json download_stage(const TrainingRequest& request, const JobPaths& paths, FetchOptions options,
                    core::Progress& progress) {
  options.field = "training_data_url";
  // The archive and its extraction must fit before a byte is downloaded.
  options.size_check = [&paths](uint64_t announced) {
    return space_problem(paths.root, 2 * announced, "the training archive and its extraction");
  };
  const std::string name = archive_file_name(request.training_data_url);
  auto archive_progress = progress.stage("archive", 0.0, request.validation.empty() ? 1.0 : 0.8);
  const auto fetched =
      fetch(request.training_data_url, paths.download_dir() / name, options, &archive_progress);
  job_log().info("training data: {} ({} bytes{})", redacted_url(request.training_data_url), fetched.bytes,
                 fetched.downloaded ? ", downloaded" : ", local");
  auto reference_progress = progress.stage("validation references", 0.8, 1.0);
  const json references = fetch_validation_references(request, paths, options, reference_progress);
  return json{{"archive", fetched.path.string()},
              {"archive_name", name},
              {"bytes", fetched.bytes},
              {"validation_references", references}};
}

json preprocess_stage(const TrainingRequest& request, const TrainingShape& shape, const JobPaths& paths,
                      const models::ModelFiles& files, const json& download, core::Progress& progress) {
  // What extraction, the pair tensors and the checkpoints will write must fit before anything is.
  const auto contents = dataset::archive_contents(download.at("archive").get<std::string>(),
                                                  download.at("archive_name").get<std::string>());
  require_free_space(paths.root,
                     contents.bytes + job_working_bytes(shape, contents.clips / 2, request.rank, files),
                     "extracting the archive, preprocessing and training");
  // A rerun after a failure inside this stage starts it over: extraction wants an empty folder.
  std::error_code ignored;
  fs::remove_all(paths.dataset_dir(), ignored);
  const auto prepared =
      dataset::prepare_dataset(download.at("archive").get<std::string>(), paths.dataset_dir(),
                               download.at("archive_name").get<std::string>(),
                               dataset_options(request, shape), request.debug_dataset, {}, &progress);
  for (const auto& warning : prepared.report.warnings) job_log().warn("dataset: {}", warning);
  json pairs = json::array();
  for (const auto& pair : prepared.pairs) {
    for (const auto& warning : pair.warnings) job_log().warn("pair {}: {}", pair.name, warning);
    pairs.push_back({{"name", pair.name}, {"tensors", pair.tensors.string()}, {"prompt", pair.prompt}});
  }
  json products{{"pairs", pairs}, {"manifest", prepared.manifest.string()}};
  if (request.debug_dataset) {
    const fs::path zip = paths.dataset_dir() / kDebugDatasetFileName;
    dataset::write_debug_archive(prepared, zip);
    products["debug_dataset"] = zip.string();
  }
  job_log().info("preprocessed {} pairs ({} skipped)", prepared.pairs.size(),
                 prepared.report.pairs.size() - prepared.pairs.size());
  return products;
}

// Every prompt the job needs, each once: captions, validation prompts, the negative prompt.
std::vector<std::string> job_prompts(const TrainingRequest& request, const json& pairs) {
  std::vector<std::string> prompts;
  const auto add = [&](const std::string& prompt) {
    if (std::find(prompts.begin(), prompts.end(), prompt) == prompts.end()) prompts.push_back(prompt);
  };
  for (const auto& pair : pairs) add(pair.at("prompt").get<std::string>());
  for (const auto& entry : request.validation) add(entry.prompt);
  if (!request.validation.empty()) add(request.validation_negative_prompt);
  return prompts;
}

// Whether a pair's latent file is there and can be trusted: written atomically, so present means
// complete, but a file damaged since (a flipped bit, a truncated copy) is encoded again, not trusted.
bool whole_latent_file(const fs::path& file) {
  if (!fs::exists(file)) return false;
  try {
    const auto set = core::SafetensorsFile::open(file);
    const auto why = set.damage();
    if (!why) return true;
    job_log().warn("latent cache: {}; encoding the pair again", *why);
  } catch (const core::Error& error) {
    job_log().warn("latent cache: {}; encoding the pair again", error.what());
  }
  return false;
}

json encode_stage(const TrainingRequest& request, const ValidationShape& shape, const JobPaths& paths,
                  const json& references, const models::ModelFiles& files, const json& preprocessed,
                  torch::Device device, core::Progress& progress) {
  const auto checkpoint = open_checkpoint(files);
  const auto dtype = compute_dtype(device);
  const json& pairs = preprocessed.at("pairs");

  // Text first: Gemma is loaded for the cache misses and freed inside encode_prompts, before any VAE.
  const auto prompts = job_prompts(request, pairs);
  models::text::PromptCache cache(
      paths.prompts_dir(), models::text::text_path_fingerprint(files.text_encoder_dir, *checkpoint, dtype));
  auto text_progress = progress.stage("text", 0.0, 0.3);
  const auto contexts =
      models::text::encode_prompts(prompts, files.text_encoder_dir, checkpoint, cache, {device, dtype});
  text_progress.update(1.0);
  job_log().info("encoded {} prompts ({} from the cache)", prompts.size(), cache.hits());
  const auto context_of = [&](const std::string& prompt) {
    return contexts.at(
        static_cast<size_t>(std::find(prompts.begin(), prompts.end(), prompt) - prompts.begin()));
  };

  const auto tensor_options = torch::TensorOptions().dtype(dtype).device(device);
  auto video_encoder = models::load_video_vae_encoder(checkpoint, tensor_options);
  auto audio_encoder = models::load_audio_vae_encoder(checkpoint, tensor_options);
  video_encoder->eval();
  audio_encoder->eval();
  const models::MelFrontEnd mel(models::MelFrontEndOptions::from_config(audio_encoder->config));
  torch::NoGradGuard no_grad;

  const auto encode_video = [&](const torch::Tensor& video) {
    return video_encoder->encode_tiled(video.unsqueeze(0).to(tensor_options)).squeeze(0).cpu();
  };
  const auto encode_audio = [&](const torch::Tensor& waveform, int64_t sample_rate) {
    const auto spectrogram = mel(waveform.unsqueeze(0).to(torch::kFloat32), sample_rate);
    return audio_encoder->forward(spectrogram.to(tensor_options)).squeeze(0).cpu();
  };

  fs::create_directories(paths.latents_dir());
  json validation = json::array();
  if (!request.validation.empty()) {
    auto validation_progress = progress.stage("validation references", 0.3, 0.4);
    validation = prepare_validation(request, paths, shape, references, *video_encoder, *audio_encoder,
                                    context_of, validation_progress);
  }

  auto latent_progress = progress.stage("latents", 0.4, 1.0);
  json latents = json::array();
  int64_t done = 0;
  for (const auto& pair : pairs) {
    const std::string name = pair.at("name").get<std::string>();
    const fs::path latent_file = paths.latents_dir() / (name + ".safetensors");
    if (!whole_latent_file(latent_file)) {
      const auto set = core::SafetensorsSet::open(pair.at("tensors").get<std::string>());
      const auto& metadata = set.metadata();
      const double fps = std::stod(metadata.at("frame_rate"));
      const auto target_video = dataset::video_tensor(core::read_tensor(set, dataset::kTargetVideoKey));
      auto audio_latent = encode_audio(core::read_tensor(set, dataset::kTargetAudioKey),
                                       std::stoll(metadata.at("target_sample_rate")));
      // The target audio spans exactly the clip's frames (vae_audio.md §8.4).
      const int64_t audio_frames = models::audio_latent_frames(target_video.size(1), fps);
      if (audio_latent.size(1) > audio_frames) audio_latent = audio_latent.narrow(1, 0, audio_frames);
      const auto context = context_of(pair.at("prompt").get<std::string>());
      core::write_tensors(
          latent_file,
          {{kVideoLatent, encode_video(target_video)},
           {kReferenceVideoLatent,
            encode_video(dataset::video_tensor(core::read_tensor(set, dataset::kReferenceVideoKey)))},
           {kAudioLatent, audio_latent},
           {kReferenceAudioLatent, encode_audio(core::read_tensor(set, dataset::kReferenceAudioKey),
                                                std::stoll(metadata.at("reference_sample_rate")))},
           {kVideoContext, context.video},
           {kAudioContext, context.audio}},
          {{"name", name},
           {"prompt", pair.at("prompt").get<std::string>()},
           {"fps", metadata.at("frame_rate")}});
    }
    latents.push_back(latent_file.string());
    latent_progress.update_count(++done, static_cast<int64_t>(pairs.size()), "pairs");
    progress.throw_if_cancelled();
  }
  return json{{"latents", latents}, {"validation", validation}};
}

// The latent cache as the trainer's data: each pair read from its file when the trainer asks.
class LatentCacheData : public train::TrainingData {
 public:
  explicit LatentCacheData(std::vector<fs::path> files) : files_(std::move(files)) {}
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  train::TrainingSample get(int64_t index) const override {
    const auto set = core::SafetensorsSet::open(files_.at(static_cast<size_t>(index)));
    train::TrainingSample sample;
    sample.video_latent = core::read_tensor(set, kVideoLatent).clone();
    sample.reference_video_latent = core::read_tensor(set, kReferenceVideoLatent).clone();
    sample.audio_latent = core::read_tensor(set, kAudioLatent).clone();
    sample.reference_audio_latent = core::read_tensor(set, kReferenceAudioLatent).clone();
    sample.video_context = core::read_tensor(set, kVideoContext).clone();
    sample.audio_context = core::read_tensor(set, kAudioContext).clone();
    sample.fps = std::stod(set.metadata().at("fps"));
    return sample;
  }

 private:
  std::vector<fs::path> files_;
};

json train_stage(const TrainingRequest& request, const TrainingShape& shape, const ValidationShape& vshape,
                 const JobPaths& paths, const models::ModelFiles& files, const json& encoded,
                 const JobOptions& job_options, core::Progress& progress) {
  const torch::Device device = job_options.device;
  const PreviewListener& on_preview = job_options.on_preview;
  std::vector<fs::path> latent_files;
  for (const auto& file : encoded.at("latents")) latent_files.emplace_back(file.get<std::string>());
  const LatentCacheData data(std::move(latent_files));

  const auto checkpoint = open_checkpoint(files);
  auto transformer = models::load_transformer(
      checkpoint, torch::TensorOptions().dtype(compute_dtype(device)).device(device));

  train::TrainerOptions options;
  options.steps = shape.steps;
  options.learning_rate = request.learning_rate;
  options.lora.rank = request.rank;
  options.lora.alpha = request.rank;  // DECISIONS.md §22
  options.step.spatial_factor = request.reference_downscale_factor;
  options.step.temporal_factor = request.reference_temporal_scale_factor;
  // A checkpoint every 250 steps and at every validation step, never more often (DECISIONS.md §34), and
  // at the last one; rerunning the job resumes from the newest.
  const json& validation = encoded.at("validation");
  const auto preview_due = [&request, steps = shape.steps](int64_t step) {
    return step == steps || (request.validation_interval > 0 && step % request.validation_interval == 0);
  };
  options.checkpoint_interval = kCheckpointInterval;
  if (!validation.empty()) options.extra_checkpoint_due = preview_due;
  options.output_dir = paths.training_dir();
  options.resume = true;
  options.file_info.spatial_factor = request.reference_downscale_factor;
  options.file_info.temporal_factor = request.reference_temporal_scale_factor;
  options.file_info.trigger_phrase = request.trigger_phrase;
  options.file_info.rank = request.rank;
  options.file_info.base_model = base_model_name(files);

  if (!validation.empty()) {
    const auto tensor_options = torch::TensorOptions().dtype(compute_dtype(device)).device(device);
    const auto render_preview = [&, tensor_options](int64_t step) {
      const auto reel = render_validation(request, paths, vshape, validation, checkpoint, transformer.ptr(),
                                          tensor_options, step, nullptr);
      if (on_preview) on_preview(step, reel);
    };
    options.on_checkpoint = [render_preview, preview_due](const train::CheckpointInfo& info) {
      if (preview_due(info.step)) render_preview(info.step);
    };
    // A run killed between a checkpoint and its preview renders that preview when it resumes.
    options.on_resume = [&paths, render_preview, preview_due](const train::CheckpointInfo& info) {
      if (preview_due(info.step) && !fs::exists(paths.preview_file(info.step))) render_preview(info.step);
    };
  }
  if (job_options.on_step) {
    options.on_step = [&job_options](const train::StepMetrics& metrics) {
      job_options.on_step(metrics.step_seconds);
    };
  }
  train::Trainer trainer(transformer, options);
  const auto result = trainer.train(data, progress);
  job_log().info("trained steps {}..{}; final loss {}", result.first_step, result.steps,
                 result.last_metrics.loss);

  // The delivered file: the final adapters with the metadata readers expect (DECISIONS.md §26).
  const fs::path lora = paths.training_dir() / kLoraFileName;
  trainer.lora().save(lora, trainer.lora_metadata());
  return json{{"lora_file", lora.string()}, {"steps", result.steps}};
}

// The last step's reel, rendered during training; rendered here from the delivered LoRA when training
// finished without it (a job resumed after its last checkpoint).
json validate_stage(const TrainingRequest& request, const ValidationShape& vshape, const JobPaths& paths,
                    const models::ModelFiles& files, const JobState& state, torch::Device device,
                    const PreviewListener& on_preview, core::Progress& progress) {
  const json& validation = state.products(JobStage::encoding).at("validation");
  if (validation.empty()) return json::object();  // no samples -> video null (DECISIONS.md §25)
  const int64_t last_step = state.products(JobStage::training).at("steps").get<int64_t>();
  fs::path reel = paths.preview_file(last_step);
  if (!fs::exists(reel)) {
    const auto checkpoint = open_checkpoint(files);
    const auto tensor_options = torch::TensorOptions().dtype(compute_dtype(device)).device(device);
    auto transformer = models::load_transformer(checkpoint, tensor_options);
    train::fuse_lora_file(*transformer, state.products(JobStage::training).at("lora_file").get<std::string>(),
                          1.0);
    reel = render_validation(request, paths, vshape, validation, checkpoint, transformer.ptr(),
                             tensor_options, last_step, &progress);
    if (on_preview) on_preview(last_step, reel);
  }
  return json{{"video", reel.string()}};
}

ordered_json upload_stage(const TrainingRequest& request, const TrainingShape& shape, const JobPaths& paths,
                          const models::ModelFiles& files, const JobState& state, const JobOptions& options) {
  const fs::path outputs = paths.outputs_dir();
  fs::create_directories(outputs);
  const auto place = [&](const fs::path& from, const char* name) {
    const fs::path to = outputs / name;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    return to;
  };
  const fs::path lora =
      place(state.products(JobStage::training).at("lora_file").get<std::string>(), kLoraFileName);
  const fs::path config = outputs / kConfigFileName;
  write_file_atomically(config,
                        core::json_text(make_config_file(request, base_model_name(files), shape), 2) + "\n");

  ordered_json result;
  result["lora_file"] = file_entry(lora, "application/octet-stream", options);
  result["config_file"] = file_entry(config, "application/json", options);
  const json& validated = state.products(JobStage::validating);
  result["video"] = validated.contains("video")
                        ? file_entry(place(validated.at("video").get<std::string>(), "validation.mp4"),
                                     "video/mp4", options)
                        : ordered_json(nullptr);
  const json& preprocessed = state.products(JobStage::preprocessing);
  result["debug_dataset"] =
      preprocessed.contains("debug_dataset")
          ? file_entry(place(preprocessed.at("debug_dataset").get<std::string>(), kDebugDatasetFileName),
                       "application/zip", options)
          : ordered_json(nullptr);
  const auto billing = bill(request.number_of_steps, service::JobOutcome::delivered);
  result["billing"] = {{"units", billing.units}, {"cost_usd", billing.cost_usd}};
  return result;
}

// The previews an earlier run of the job wrote (previews/step_N.mp4), in step order.
void report_written_previews(const JobPaths& paths, const PreviewListener& on_preview) {
  std::error_code error;
  if (!on_preview || !fs::is_directory(paths.previews_dir(), error)) return;
  std::vector<int64_t> steps;
  for (const auto& entry : fs::directory_iterator(paths.previews_dir(), error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("step_") || !name.ends_with(".mp4")) continue;
    const std::string digits = name.substr(5, name.size() - 9);
    if (!digits.empty() && digits.size() < 10 &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      steps.push_back(std::stoll(digits));
    }
  }
  std::sort(steps.begin(), steps.end());
  for (const int64_t step : steps) on_preview(step, paths.preview_file(step));
}

// A folder that holds other things and no request.json is not a job folder: a job never mixes its
// files with them, nor writes its log or error there.
void refuse_foreign_folder(const JobPaths& paths) {
  if (!fs::is_directory(paths.root) || fs::exists(paths.request_file())) return;
  for (const auto& entry : fs::directory_iterator(paths.root)) {
    const auto name = entry.path().filename();
    if (name != ".lock" && name != paths.log_file().filename()) {
      throw core::InvalidInput(
          paths.root.string() + " holds " + name.string() +
          " but no request.json: it is not an avtrain job folder. Choose an empty folder (or "
          "a new one) for the job, or the folder of this very job to continue it");
    }
  }
}

// The request stored in the job folder must be this one: a rerun continues the same job.
void claim_job_folder(const TrainingRequest& request, const JobPaths& paths) {
  const std::string normalized = core::json_text(to_json(request), 2) + "\n";
  if (fs::exists(paths.request_file())) {
    if (read_json_file(paths.request_file()) != json::parse(normalized)) {
      throw core::InvalidInput(paths.root.string() +
                               " holds a job with a different request (request.json): rerun that request, or "
                               "choose another --out folder");
    }
    return;
  }
  write_file_atomically(paths.request_file(), normalized);
}

}  // namespace

ordered_json file_entry(const fs::path& path, const std::string& content_type, const JobOptions& options) {
  return ordered_json{{"url", options.file_url ? options.file_url(path, content_type) : file_url(path)},
                      {"file_name", path.filename().string()},
                      {"file_size", fs::file_size(path)},
                      {"content_type", content_type}};
}

FetchOptions cli_fetch_options() {
  FetchOptions options;
  options.allow_private_destinations = true;
  options.local_files = LocalFilePolicy::allow_any();
  return options;
}

dataset::DatasetOptions dataset_options(const TrainingRequest& request, const JobOverrides& overrides) {
  return dataset_options(request, training_shape(request, overrides));
}

DatasetCheck check_dataset_at(const std::string& archive_url, const dataset::DatasetOptions& options,
                              const FetchOptions& fetch_options, const fs::path& scratch_dir,
                              core::Progress* progress) {
  const auto fetched = fetch(archive_url, scratch_dir / "download.zip", fetch_options, progress);
  auto report = dataset::check_dataset(fetched.path, scratch_dir / "extracted",
                                       archive_file_name(archive_url), options, {}, progress);
  return {std::move(report), options};
}

ordered_json dataset_check_json(const DatasetCheck& check, const TrainingRequest& request) {
  const auto& options = check.options;
  auto answer = ordered_json::parse(dataset::to_json(check.report).dump());
  answer["fitted"] = {
      {"width", options.width},
      {"height", options.height},
      {"frames", options.frames},
      {"frame_rate", options.frame_rate},
      {"reference_width", options.width / options.reference_downscale},
      {"reference_height", options.height / options.reference_downscale},
      {"reference_frames", reference_frame_count(options.frames, options.reference_temporal)}};
  const Billing billing = bill(request.number_of_steps, JobOutcome::delivered);
  answer["billing"] = {{"units", billing.units}, {"cost_usd", billing.cost_usd}};
  return answer;
}

ordered_json run_job(const TrainingRequest& request, const JobPaths& paths, const models::ModelFiles& files,
                     const JobOptions& options, core::Progress& progress) {
  fs::create_directories(paths.root);
  claim_job_folder(request, paths);
  const auto shape = training_shape(request, options.overrides);
  JobState state(paths);
  if (state.finished(JobStage::uploading) && fs::exists(paths.result_file())) {
    job_log().info("job in {} already finished: returning its result", paths.root.string());
    const auto stored = read_json_file(paths.result_file());
    return ordered_json::parse(core::json_text(stored));
  }

  struct Span {
    JobStage stage;
    double begin, end;
  };
  const std::array spans = {
      Span{JobStage::downloading, 0.00, 0.05}, Span{JobStage::preprocessing, 0.05, 0.15},
      Span{JobStage::encoding, 0.15, 0.25},    Span{JobStage::training, 0.25, 0.95},
      Span{JobStage::validating, 0.95, 0.98},  Span{JobStage::uploading, 0.98, 1.00}};
  // Latents found damaged before training (a flipped bit since they were written) are encoded again.
  if (state.finished(JobStage::encoding) && !state.finished(JobStage::training)) {
    const auto& latents = state.products(JobStage::encoding).at("latents");
    if (!std::all_of(latents.begin(), latents.end(),
                     [](const json& file) { return whole_latent_file(file.get<std::string>()); })) {
      state.reopen(JobStage::encoding);
    }
  }
  report_written_previews(paths, options.on_preview);
  ordered_json result;
  for (const auto& span : spans) {
    if (span.stage != JobStage::uploading && state.finished(span.stage)) {
      job_log().info("stage {}: finished before, skipped", to_string(span.stage));
      continue;
    }
    progress.throw_if_cancelled();
    job_log().info("stage {}", to_string(span.stage));
    auto stage_progress = progress.stage(std::string(to_string(span.stage)), span.begin, span.end);
    switch (span.stage) {
      case JobStage::downloading:
        state.mark_finished(span.stage, download_stage(request, paths, options.fetch, stage_progress));
        break;
      case JobStage::preprocessing:
        state.mark_finished(
            span.stage, preprocess_stage(request, shape, paths, files, state.products(JobStage::downloading),
                                         stage_progress));
        break;
      case JobStage::encoding: {
        // A job folder whose download finished before the references were fetched there fetches them now.
        const json& downloaded = state.products(JobStage::downloading);
        const json references =
            downloaded.contains("validation_references")
                ? downloaded.at("validation_references")
                : fetch_validation_references(request, paths, options.fetch, stage_progress);
        state.mark_finished(span.stage, encode_stage(request, validation_shape(shape), paths, references,
                                                     files, state.products(JobStage::preprocessing),
                                                     options.device, stage_progress));
        break;
      }
      case JobStage::training:
        state.mark_finished(span.stage,
                            train_stage(request, shape, validation_shape(shape), paths, files,
                                        state.products(JobStage::encoding), options, stage_progress));
        break;
      case JobStage::validating:
        state.mark_finished(span.stage, validate_stage(request, validation_shape(shape), paths, files, state,
                                                       options.device, options.on_preview, stage_progress));
        break;
      case JobStage::uploading:
        result = upload_stage(request, shape, paths, files, state, options);
        write_file_atomically(paths.result_file(), core::json_text(result, 2) + "\n");
        state.mark_finished(span.stage, json{{"result", paths.result_file().string()}});
        {
          // Delivered: nothing left needs the working files (service/retention.h).
          const uint64_t freed = remove_working_files(paths);
          job_log().info("removed the job's working files ({}); {} kept in {}", core::byte_text(freed),
                         core::byte_text(folder_bytes(paths.root)), paths.root.string());
        }
        break;
    }
    stage_progress.update(1.0);
  }
  return result;
}

namespace {

// error.json for a failed job: its body, its HTTP status and billing 0 (DECISIONS.md §32).
JobRun record_failure(const TrainingRequest& request, const JobPaths& paths, const core::Error& raw_error) {
  // A write that failed for want of space says so plainly, naming the stage (the first not finished).
  std::optional<core::InternalError> out_of_space;
  if (raw_error.kind() == core::ErrorKind::internal && is_out_of_space(raw_error.what())) {
    job_log().error("job failed: {}", raw_error.what());
    std::string stage = "uploading";
    try {
      const JobState state(paths);
      for (const auto candidate : kJobStages) {
        if (!state.finished(candidate)) {
          stage = std::string(to_string(candidate));
          break;
        }
      }
    } catch (const core::Error&) {
    }
    out_of_space.emplace(out_of_space_message(paths.root, "the " + stage + " stage"));
  }
  const core::Error& error = out_of_space ? *out_of_space : raw_error;
  job_log().error("job failed: {}", error.what());
  auto body = ordered_json::parse(error.detail_json());
  if (error.kind() == core::ErrorKind::cancelled) body["error_type"] = kClientCancelled;
  body["status"] = error.http_status();
  const auto billing = bill(request.number_of_steps, error.kind() == core::ErrorKind::cancelled
                                                         ? service::JobOutcome::cancelled
                                                         : service::JobOutcome::failed);
  body["billing"] = {{"units", billing.units}, {"cost_usd", billing.cost_usd}};
  std::error_code ignored;
  fs::remove(paths.result_file(), ignored);
  // A full disk may refuse error.json too: the body is still returned (printed, stored), not lost.
  try {
    write_file_atomically(paths.error_file(), core::json_text(body, 2) + "\n");
  } catch (const core::Error& unwritten) {
    job_log().error("{}", unwritten.what());
  }
  return {error.exit_code(), std::move(body)};
}

}  // namespace

JobRun run_recorded_job(const TrainingRequest& request, const JobPaths& paths,
                        const models::ModelFiles& files, const JobOptions& options,
                        core::Progress& progress) {
  // Neither a foreign folder nor one another process runs in gets anything written into it.
  refuse_foreign_folder(paths);
  const FolderLock lock(paths.root, "job folder");
  core::LogFileSink log_file(paths.log_file().string());
  std::error_code ignored;
  try {
    auto result = run_job(request, paths, files, options, progress);
    fs::remove(paths.error_file(), ignored);
    return {0, std::move(result)};
  } catch (const core::Error& error) {
    return record_failure(request, paths, error);
  } catch (const c10::Error& error) {
    return record_failure(request, paths, core::InternalError(error.what_without_backtrace()));
  } catch (const std::exception& error) {
    return record_failure(request, paths, core::InternalError(error.what()));
  }
}

}  // namespace avtrain::service
