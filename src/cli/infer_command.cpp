// `avtrain infer`: applies a trained IC-LoRA to a new reference clip (MISSION.md "Inference") through
// service/inference.h, which the server's try-it jobs share; this file reads and checks the options.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <utility>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "models/checkpoint.h"
#include "models/tiny.h"
#include "service/inference.h"
#include "service/request/buckets.h"
#include "service/request/training_request.h"

namespace avtrain::cli {
namespace {

struct InferArguments {
  std::string model, text_encoder, lora, reference_video, reference_audio, prompt, out;
  std::string negative_prompt{service::kDefaultValidationNegativePrompt};
  int frames = 89;
  int fps = 24;
  std::string resolution = "high";
  std::string aspect_ratio = "1:1";
  int steps = 30;
  uint64_t seed = 42;
  double lora_strength = 1.0;
  double stg_scale = 1.0;
  int downscale = 0, temporal = 0;  // overrides of the LoRA's metadata; 0: the LoRA's
  bool auto_scale = false;
  std::string device = "auto";
  std::string dtype = "auto";
};

// "low" / "medium" / "high" with the aspect ratio (MISSION.md buckets), or an explicit "WxH".
service::VideoSize output_size(const std::string& resolution, const std::string& aspect_ratio) {
  const auto x = resolution.find('x');
  if (x != std::string::npos) {
    try {
      size_t used_w = 0, used_h = 0;
      const int width = std::stoi(resolution.substr(0, x), &used_w);
      const int height = std::stoi(resolution.substr(x + 1), &used_h);
      if (used_w == x && used_h == resolution.size() - x - 1) return {width, height};
    } catch (const std::exception&) {
    }
    throw core::InvalidInput("--resolution " + resolution + ": expected low, medium, high or WIDTHxHEIGHT");
  }
  const auto parsed_resolution = service::parse_resolution(resolution);
  const auto parsed_aspect = service::parse_aspect_ratio(aspect_ratio);
  if (!parsed_resolution)
    throw core::InvalidInput("--resolution " + resolution + ": use low, medium, high or WxH");
  if (!parsed_aspect) throw core::InvalidInput("--aspect-ratio " + aspect_ratio + ": use 16:9, 1:1 or 9:16");
  return service::bucket_size(*parsed_resolution, *parsed_aspect);
}

torch::ScalarType pick_dtype(const std::string& text, torch::Device device) {
  // bf16 as the reference on GPUs; float32 on the CPU, where LibTorch's bf16 kernels are slow.
  if (text == "auto") return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (text == "bfloat16" || text == "bf16") return torch::kBFloat16;
  if (text == "float32" || text == "fp32") return torch::kFloat32;
  throw core::InvalidInput("--dtype " + text + ": use auto, bfloat16 or float32");
}

int run_infer(const InferArguments& args) {
  auto& log = core::logger("cli");
  // Frame counts snap down to 8k+1 as in requests (MISSION.md, DECISIONS.md §14).
  if (args.frames < service::kMinFrameCount) {
    throw core::InvalidInput("--frames " + std::to_string(args.frames) + ": at least " +
                             std::to_string(service::kMinFrameCount));
  }
  const int frames = service::snap_frame_count(args.frames);
  if (frames != args.frames)
    log.info("--frames {} snapped down to {} (frame counts are 8k+1)", args.frames, frames);
  if (args.fps < 1) throw core::InvalidInput("--fps " + std::to_string(args.fps) + ": must be positive");
  if (args.steps < 2) throw core::InvalidInput("--steps " + std::to_string(args.steps) + ": at least 2");
  const auto size = output_size(args.resolution, args.aspect_ratio);
  if (size.width % service::kVaeSpatialCompression != 0 ||
      size.height % service::kVaeSpatialCompression != 0 || size.width <= 0 || size.height <= 0) {
    throw core::InvalidInput("--resolution " + service::to_string(size) +
                             ": width and height must be multiples of " +
                             std::to_string(service::kVaeSpatialCompression));
  }

  for (const auto& [value, option] : {std::pair{args.downscale, "--reference-downscale-factor"},
                                      std::pair{args.temporal, "--reference-temporal-scale-factor"}}) {
    if (value != 0 && (value < 1 || value > service::kMaxReferenceScaleFactor)) {
      throw core::InvalidInput(std::string(option) + " " + std::to_string(value) + ": use 1.." +
                               std::to_string(service::kMaxReferenceScaleFactor));
    }
  }
  service::InferenceSettings settings;
  settings.lora = args.lora;
  settings.reference_video = args.reference_video;
  settings.reference_audio = args.reference_audio;
  settings.prompt = args.prompt;
  settings.negative_prompt = args.negative_prompt;
  settings.frames = frames;
  settings.fps = args.fps;
  settings.size = size;
  settings.steps = args.steps;
  settings.seed = args.seed;
  settings.lora_strength = args.lora_strength;
  settings.stg_scale = args.stg_scale;
  settings.downscale = args.downscale;
  settings.temporal = args.temporal;
  settings.auto_scale = args.auto_scale;
  settings.device = core::parse_device(args.device);
  settings.dtype = pick_dtype(args.dtype, settings.device);
  core::Progress progress("infer");
  service::run_inference(settings, models::resolve_model_files(args.model, args.text_encoder), args.out,
                         progress);
  return 0;
}

Action add_infer(CLI::App& command) {
  auto args = std::make_shared<InferArguments>();
  command.add_option("--model", args->model, "LTX-2.3 checkpoint (.safetensors), or \"tiny\"")->required();
  command.add_option("--text-encoder", args->text_encoder, "Gemma 3 directory, or \"tiny\"")->required();
  command.add_option("--lora", args->lora, "trained LoRA (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  command.add_option("--reference-video", args->reference_video, "reference clip")
      ->required()
      ->check(CLI::ExistingFile);
  command
      .add_option("--reference-audio", args->reference_audio,
                  "reference audio (default: the clip's own track)")
      ->check(CLI::ExistingFile);
  command.add_option("--prompt", args->prompt, "prompt (with the LoRA's trigger phrase)")->required();
  command.add_option("--negative-prompt", args->negative_prompt,
                     "negative prompt (default: the built-in one)");
  command.add_option("--frames", args->frames, "frames (snapped down to 8k+1)")->capture_default_str();
  command.add_option("--fps", args->fps, "frame rate")->capture_default_str();
  command.add_option("--resolution", args->resolution, "low, medium, high or WIDTHxHEIGHT")
      ->capture_default_str();
  command.add_option("--aspect-ratio", args->aspect_ratio, "16:9, 1:1 or 9:16")->capture_default_str();
  command.add_option("--steps", args->steps, "denoising steps")->capture_default_str();
  command.add_option("--seed", args->seed, "noise seed")->capture_default_str();
  command.add_option("--lora-strength", args->lora_strength, "LoRA strength")->capture_default_str();
  command.add_option("--stg-scale", args->stg_scale, "spatio-temporal guidance scale")->capture_default_str();
  command.add_option("--reference-downscale-factor", args->downscale,
                     "reference spatial factor d (default: the LoRA's metadata)");
  command.add_option("--reference-temporal-scale-factor", args->temporal,
                     "reference temporal factor S (default: the LoRA's metadata)");
  command.add_flag("--auto-scale", args->auto_scale, "fit the whole reference clip to the frame count");
  command.add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  command.add_option("--dtype", args->dtype, "auto (bf16 on GPU, float32 on CPU), bfloat16 or float32")
      ->capture_default_str();
  command.add_option("--out", args->out, "output .mp4")->required();
  return [args] { return run_infer(*args); };
}

const bool registered = register_command(
    {"infer", "Apply a trained IC-LoRA to a new reference clip and write the generated mp4", add_infer});

}  // namespace
}  // namespace avtrain::cli
