#include "service/job_validation.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstring>

#include "core/log.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "dataset/preprocess.h"
#include "media/audio_fit.h"
#include "media/probe.h"
#include "media/reel.h"
#include "media/video_fit.h"
#include "models/audio/audio_vae_decoder.h"
#include "models/audio/audio_vae_encoder.h"
#include "models/audio/vocoder.h"
#include "models/transformer/transformer_model.h"
#include "models/video_vae/video_vae_decoder.h"
#include "models/video_vae/video_vae_encoder.h"
#include "sample/decoding.h"
#include "sample/generation.h"
#include "sample/reference_encoding.h"
#include "service/fetch.h"
#include "service/request/field_reader.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

media::ReferenceScaling scaling_of(const TrainingRequest& request) {
  return {request.reference_downscale_factor, request.reference_temporal_scale_factor};
}

media::VideoFitOptions fit_of(const TrainingRequest& request, const ValidationShape& shape) {
  return {shape.width, shape.height, shape.frames, shape.fps, request.auto_scale_input};
}

// The file name a user sees for `location` (the URL's last path component), in place of `path` (where
// it lies on the server) in a message.
std::string shown_in_place_of(std::string message, const fs::path& path, const std::string& location) {
  const std::string server_path = path.string();
  const std::string shown = archive_file_name(location);
  for (auto at = message.find(server_path); at != std::string::npos; at = message.find(server_path, at)) {
    message.replace(at, server_path.size(), shown);
    at += shown.size();
  }
  return message;
}

[[noreturn]] void refuse_reference(const std::string& field, const std::string& message) {
  throw core::InvalidInput({core::Problem{field_loc(field), message, "value_error"}});
}

// Fetches one validation file into download/ (local files and the server's own uploads are read in
// place); a failed download is a problem of the entry's field.
fs::path fetch_reference_file(const std::string& location, const fs::path& destination, FetchOptions options,
                              const std::string& field, core::Progress& progress) {
  options.field = field;
  try {
    return fetch(location, destination, options, &progress).path;
  } catch (const core::DownloadFailed& error) {
    refuse_reference(field, error.what());
  }
}

}  // namespace

json fetch_validation_references(const TrainingRequest& request, const JobPaths& paths,
                                 const FetchOptions& fetch_options, core::Progress& progress) {
  json references = json::array();
  for (size_t entry_idx = 0; entry_idx < request.validation.size(); ++entry_idx) {
    const auto& entry = request.validation[entry_idx];
    const std::string field = fmt::format("validation[{}]", entry_idx);
    const std::string video_field = field + ".reference_video_url";
    const fs::path video = fetch_reference_file(
        entry.reference_video_url, paths.download_dir() / fmt::format("validation_{}_video", entry_idx),
        fetch_options, video_field, progress);
    const std::string video_name = archive_file_name(entry.reference_video_url);
    media::MediaInfo info;
    try {
      info = media::probe(video);
    } catch (const core::Error& error) {
      refuse_reference(video_field, video_field + ": " + video_name + " cannot be read as a video clip (" +
                                        shown_in_place_of(error.what(), video, entry.reference_video_url) +
                                        "): give an mp4, mov, webm, mkv or avi clip");
    }
    fs::path audio = video;
    if (entry.reference_audio_url) {
      const std::string audio_field = field + ".reference_audio_url";
      audio = fetch_reference_file(*entry.reference_audio_url,
                                   paths.download_dir() / fmt::format("validation_{}_audio", entry_idx),
                                   fetch_options, audio_field, progress);
      try {
        media::decode_audio(audio);
      } catch (const core::Error& error) {
        refuse_reference(audio_field, audio_field + ": " + archive_file_name(*entry.reference_audio_url) +
                                          " holds no readable audio (" +
                                          shown_in_place_of(error.what(), audio, *entry.reference_audio_url) +
                                          "): give a wav, mp3, m4a, flac or ogg file, or a clip with sound");
      }
    } else if (!info.audio.present) {
      refuse_reference(video_field,
                       video_field + ": " + video_name +
                           " has no audio track, and the entry gives no reference_audio_url: add the "
                           "reference audio as reference_audio_url, or use a clip with sound");
    }
    references.push_back({{"video", video.string()}, {"audio", audio.string()}});
  }
  return references;
}

json prepare_validation(const TrainingRequest& request, const JobPaths& paths, const ValidationShape& shape,
                        const json& references, models::VideoVaeEncoderImpl& video_encoder,
                        models::AudioVaeEncoderImpl& audio_encoder,
                        const std::function<models::text::PromptContext(const std::string&)>& context_of,
                        core::Progress& progress) {
  json prepared = json::array();
  const auto negative = context_of(request.validation_negative_prompt);
  for (size_t i = 0; i < request.validation.size(); ++i) {
    const auto& entry = request.validation[i];
    const fs::path video = references.at(i).at("video").get<std::string>();
    const fs::path audio = references.at(i).at("audio").get<std::string>();
    const auto frames = media::fit_reference_video(video, fit_of(request, shape), scaling_of(request));
    media::AudioFitOptions audio_fit;
    audio_fit.frames = shape.frames;
    audio_fit.fps = shape.fps;
    audio_fit.auto_scale = request.auto_scale_input;
    audio_fit.preserve_pitch = request.audio_preserve_pitch;
    audio_fit.normalize = request.audio_normalize;
    // A separate reference audio is stretched with its video when auto-scaled: it has no video of its own.
    if (audio != video && request.auto_scale_input)
      audio_fit.video_duration = media::probe(video).video.duration;
    const auto waveform = media::fit_audio(audio, audio_fit);
    const auto context = context_of(entry.prompt);
    const fs::path latents = paths.latents_dir() / fmt::format("validation_{}.safetensors", i);
    core::write_tensors(latents,
                        {{"reference_video_latent",
                          sample::encode_reference_video(video_encoder, dataset::video_tensor(frames))},
                         {"reference_audio_latent",
                          sample::encode_reference_audio(audio_encoder, dataset::audio_tensor(waveform),
                                                         waveform.sample_rate)},
                         {"video_context", context.video},
                         {"audio_context", context.audio},
                         {"negative_video_context", negative.video},
                         {"negative_audio_context", negative.audio}});
    prepared.push_back({{"latents", latents.string()}, {"reference_video", video.string()}});
    progress.update_count(static_cast<int64_t>(i + 1), static_cast<int64_t>(request.validation.size()),
                          "references");
  }
  return prepared;
}

fs::path render_validation(const TrainingRequest& request, const JobPaths& paths,
                           const ValidationShape& shape, const json& prepared,
                           std::shared_ptr<const core::SafetensorsSet> checkpoint,
                           std::shared_ptr<models::TransformerModelImpl> transformer,
                           torch::TensorOptions options, int64_t step, core::Progress* progress) {
  torch::NoGradGuard no_grad;
  const bool was_training = transformer->is_training();
  transformer->eval();
  sample::SamplingModels sampling;
  sampling.transformer = models::TransformerModel(transformer);
  sampling.video_decoder = models::load_video_vae_decoder(checkpoint, options);
  sampling.audio_decoder = models::load_audio_vae_decoder(checkpoint, options);
  sampling.vocoder = models::load_vocoder(checkpoint, options.device());

  std::vector<media::ReelClip> clips;
  for (size_t i = 0; i < prepared.size(); ++i) {
    const auto set = core::SafetensorsSet::open(prepared[i].at("latents").get<std::string>());
    sample::SampleRequest sample_request;
    sample_request.reference_video_latent = core::read_tensor(set, "reference_video_latent").clone();
    sample_request.reference_audio_latent = core::read_tensor(set, "reference_audio_latent").clone();
    sample_request.prompt = {core::read_tensor(set, "video_context").clone(),
                             core::read_tensor(set, "audio_context").clone()};
    sample_request.negative_prompt = {core::read_tensor(set, "negative_video_context").clone(),
                                      core::read_tensor(set, "negative_audio_context").clone()};
    sample_request.frames = shape.frames;
    sample_request.width = shape.width;
    sample_request.height = shape.height;
    sample_request.fps = shape.fps;
    sample_request.spatial_factor = request.reference_downscale_factor;
    sample_request.temporal_factor = request.reference_temporal_scale_factor;
    sample_request.settings.stg_scale = request.stg_scale;
    const auto generated = sample::generate_validation_sample(sampling, sample_request, nullptr);

    media::VideoFrames video;
    video.width = shape.width;
    video.height = shape.height;
    video.fps = shape.fps;
    const auto rgb = sample::to_rgb8(generated.video).contiguous();
    video.rgb.resize(static_cast<size_t>(rgb.numel()));
    std::memcpy(video.rgb.data(), rgb.data_ptr<uint8_t>(), video.rgb.size());
    media::ReelClip clip;
    const auto reference = media::fit_reference_video(prepared[i].at("reference_video").get<std::string>(),
                                                      fit_of(request, shape), scaling_of(request));
    clip.video = media::side_by_side(reference, video, shape.height, request.reference_temporal_scale_factor);
    clip.audio.sample_rate = static_cast<int>(generated.audio.sample_rate);
    clip.audio.channels = static_cast<int>(generated.audio.samples.size(0));
    const auto samples = generated.audio.samples.contiguous();  // [channels, N]: planar already
    clip.audio.samples.assign(samples.data_ptr<float>(), samples.data_ptr<float>() + samples.numel());
    clips.push_back(std::move(clip));
    if (progress)
      progress->update_count(static_cast<int64_t>(i + 1), static_cast<int64_t>(prepared.size()), "samples");
  }
  const fs::path reel = paths.preview_file(step);
  fs::create_directories(reel.parent_path());
  // Written beside and renamed, so a preview that exists is whole (a killed run leaves no half reel).
  fs::path writing = reel;
  writing.replace_extension(".writing.mp4");
  media::write_reel(writing, clips);
  fs::rename(writing, reel);
  core::logger("service").info("validation at step {}: {} sample(s) in {}", step, clips.size(),
                               reel.string());
  if (was_training) transformer->train();
  return reel;
}

}  // namespace avtrain::service
