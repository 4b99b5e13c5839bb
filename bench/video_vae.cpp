// Video VAE encode / decode benchmark (LibTorch only): seeded random weights of the full LTX-2.3
// layout (or the tiny golden layout with --tiny), one clip of the chosen size, wall time per pass and
// peak memory (CUDA allocator peak on a GPU, peak RSS on the CPU).
//
//   bench_video_vae [--frames 9] [--height 256] [--width 256] [--device cpu|cuda] [--dtype f32|bf16]
//                   [--tiled] [--tiny] [--repeat 1] [--decode-only] [--encode-only]

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define AVTRAIN_BENCH_CUDA_STATS 1
#endif

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "bench_flags.h"
#include "core/runtime.h"
#include "models/layers/weight_source.h"
#include "models/video_vae/video_vae_config.h"
#include "models/video_vae/video_vae_decoder.h"
#include "models/video_vae/video_vae_encoder.h"

namespace {

using avtrain::models::TilingOptions;
using avtrain::models::VideoVaeConfig;

// The `vae` section of the LTX-2.3 checkpoint config (specs/vae_audio.md §1.1).
constexpr const char* kLtx23Vae = R"({"vae": {"_class_name": "CausalVideoAutoencoder", "dims": 3,
  "in_channels": 3, "out_channels": 3, "latent_channels": 128,
  "encoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space_res", {"multiplier": 2}],
    ["res_x", {"num_layers": 6}], ["compress_time_res", {"multiplier": 2}], ["res_x", {"num_layers": 4}],
    ["compress_all_res", {"multiplier": 2}], ["res_x", {"num_layers": 2}], ["compress_all_res", {"multiplier": 1}],
    ["res_x", {"num_layers": 2}]],
  "decoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space", {"multiplier": 2}],
    ["res_x", {"num_layers": 6}], ["compress_time", {"multiplier": 2}], ["res_x", {"num_layers": 4}],
    ["compress_all", {"multiplier": 1}], ["res_x", {"num_layers": 2}], ["compress_all", {"multiplier": 2}],
    ["res_x", {"num_layers": 2}]],
  "norm_layer": "pixel_norm", "patch_size": 4, "latent_log_var": "uniform", "causal_decoder": false,
  "timestep_conditioning": false, "decoder_base_channels": 128, "spatial_padding_mode": "zeros"}})";

nlohmann::json tiny_config() {
  auto config = nlohmann::json::parse(kLtx23Vae);
  auto& vae = config["vae"];
  vae["latent_channels"] = 8;
  vae["decoder_base_channels"] = 4;
  for (auto* key : {"encoder_blocks", "decoder_blocks"}) {
    for (auto& block : vae[key]) {
      if (block[0] == "res_x") block[1]["num_layers"] = 1;
    }
  }
  return config;
}

double peak_rss_gib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / (1024.0 * 1024.0);
  }
  return 0;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void reset_peak(const torch::Device& device) {
#ifdef AVTRAIN_BENCH_CUDA_STATS
  if (device.is_cuda())
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
}

double peak_gib(const torch::Device& device) {
#ifdef AVTRAIN_BENCH_CUDA_STATS
  if (device.is_cuda()) {
    const auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    // Index 0 is StatType::AGGREGATE (whose namespace moved between LibTorch versions).
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
  }
#endif
  return peak_rss_gib();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t frames = 9, height = 256, width = 256, repeat = 1;
  std::string device_name = "cpu", dtype_name = "f32";
  bool tiled = false, tiny = false, encode_only = false, decode_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--frames")
      frames = avtrain::bench::integer_flag(arg, next());
    else if (arg == "--height")
      height = avtrain::bench::integer_flag(arg, next());
    else if (arg == "--width")
      width = avtrain::bench::integer_flag(arg, next());
    else if (arg == "--repeat")
      repeat = avtrain::bench::integer_flag(arg, next());
    else if (arg == "--device")
      device_name = next();
    else if (arg == "--dtype")
      dtype_name = next();
    else if (arg == "--tiled")
      tiled = true;
    else if (arg == "--tiny")
      tiny = true;
    else if (arg == "--encode-only")
      encode_only = true;
    else if (arg == "--decode-only")
      decode_only = true;
    else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  const auto info = avtrain::core::initialize_runtime();
  const auto device = avtrain::core::parse_device(device_name);
  const auto dtype = dtype_name == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  const auto config =
      VideoVaeConfig::from_checkpoint(tiny ? tiny_config() : nlohmann::json::parse(kLtx23Vae));
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  const auto root = avtrain::models::WeightSource::random(42, "vae.", options);
  const TilingOptions tiling = tiled ? TilingOptions{} : TilingOptions::none();
  std::printf(
      "video VAE bench: %s, %s, %s, %lld threads, torch %s, clip %lldx%lldx%lld (frames x h x w), %s\n",
      tiny ? "tiny layout" : "LTX-2.3 layout", device_name.c_str(), dtype_name.c_str(),
      static_cast<long long>(info.threads), info.torch_version.c_str(), static_cast<long long>(frames),
      static_cast<long long>(height), static_cast<long long>(width),
      tiled ? "tiled (768/64 px, 80/24 frames)" : "untiled");
  std::printf("%-8s %-28s %-28s %10s %12s\n", "pass", "input", "output", "seconds", "peak GiB");
  const auto shape_text = [](const torch::Tensor& t) {
    std::string text;
    for (const auto size : t.sizes()) text += (text.empty() ? "" : "x") + std::to_string(size);
    return text;
  };
  const auto timed = [&](const char* pass, const torch::Tensor& input, const auto& run) {
    torch::Tensor output;
    for (int64_t r = 0; r < repeat; ++r) {
      synchronize(device);
      reset_peak(device);
      const auto start = std::chrono::steady_clock::now();
      output = run(input);
      synchronize(device);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("%-8s %-28s %-28s %10.3f %12.2f\n", pass, shape_text(input).c_str(),
                  shape_text(output).c_str(), seconds, peak_gib(device));
      std::fflush(stdout);
    }
    return output;
  };
  torch::Tensor latent;
  if (!decode_only) {
    avtrain::models::VideoVaeEncoder encoder(root.at("encoder"), root.at("per_channel_statistics"), config);
    const auto video = (torch::rand({1, 3, frames, height, width}) * 2 - 1).to(options);
    latent = timed("encode", video, [&](const torch::Tensor& v) {
      return tiled ? encoder->encode_tiled(v, tiling) : encoder->encode(v);
    });
  }
  if (!encode_only) {
    avtrain::models::VideoVaeDecoder decoder(root.at("decoder"), root.at("per_channel_statistics"), config);
    if (!latent.defined()) {
      latent = torch::randn({1, config.latent_channels, (frames - 1) / config.time_factor() + 1,
                             height / config.space_factor(), width / config.space_factor()})
                   .to(options);
    }
    timed("decode", latent, [&](const torch::Tensor& z) {
      return tiled ? decoder->decode_tiled(z, tiling) : decoder->decode(z);
    });
  }
  return 0;
}
