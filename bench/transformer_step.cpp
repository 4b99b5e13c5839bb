// Full LoRA training steps of the LTX-2.3 audio-video transformer with random weights: forward, MSE on the
// target tokens of both streams, backward, gradient clipping and AdamW on the adapters (to_q/to_k/to_v/to_out.0
// of all six attention modules), as the trainer steps them. Target tokens plus as many reference tokens at
// timestep 0 in both streams, as the IC-LoRA trainer feeds them. Prints the median seconds per step, the achieved TFLOP/s by the FLOP count
// of transformer.md §11 (training = 3 forwards, 4 with checkpointing) and the peak memory.
//
// Defaults: the full 48-layer model at 768x768x89 (12x24x24 latent) with a d = 1 reference, bf16 on CUDA.
// See docs/performance.md for building and running it on a CUDA machine.

#include <torch/torch.h>
#include <torch/version.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench_device.h"
#include "bench_flags.h"
#include "kernel_profile.h"
#include "core/error.h"
#include "models/layers/weight_source.h"
#include "models/transformer/positions.h"
#include "models/layers/scaled_dot_product.h"
#include "models/transformer/transformer_model.h"
#include "train/optimizer.h"

namespace {

using avtrain::bench::peak_memory_gb;
using avtrain::bench::synchronize;
using avtrain::models::Modality;
using avtrain::models::TransformerConfig;
using avtrain::models::TransformerModel;

struct Flags {
  int64_t layers = 48, video_heads = 32, video_head_dim = 128, audio_heads = 32, audio_head_dim = 64;
  int64_t latent_frames = 12, latent_h = 24, latent_w = 24, audio_tokens = 93, text_len = 1024, rank = 32;
  int64_t steps = 5, warmup = 2, threads = 0;
  int64_t keep_attention = -1, kept_attention_min_keys = avtrain::models::kKeptAttentionMinKeys;
  std::string dtype = "bf16", device = "cuda", attention = "auto";
  std::string profile;  // a Chrome trace path: one more step under the profiler
  bool grad_checkpointing = true;
};

void usage() {
  std::cout << "bench_transformer_step [--layers N] [--video-heads N] [--video-head-dim N] [--audio-heads N]\n"
               "  [--audio-head-dim N] [--latent-frames N] [--latent-h N] [--latent-w N] [--audio-tokens N]\n"
               "  [--text-len N] [--rank N] [--steps N] [--warmup N] [--threads N] [--dtype bf16|fp32]\n"
               "  [--device cuda|cpu] [--grad-checkpointing 0|1] [--attention auto|flash|efficient|cudnn|math]\n"
               "  [--keep-attention BLOCKS (-1: all, 0: none)] [--kept-attention-min-keys N]\n"
               "  [--profile TRACE.json (one more step under LibTorch's profiler: a table per kernel, the trace)]\n"
               "Sizes are per stream's target; as many reference tokens (timestep 0) are added to each.\n";
}

Flags parse(int argc, char** argv) {
  Flags f;
  std::map<std::string, int64_t*> ints = {
      {"--layers", &f.layers},           {"--video-heads", &f.video_heads}, {"--video-head-dim", &f.video_head_dim},
      {"--audio-heads", &f.audio_heads}, {"--audio-head-dim", &f.audio_head_dim},
      {"--latent-frames", &f.latent_frames}, {"--latent-h", &f.latent_h}, {"--latent-w", &f.latent_w},
      {"--audio-tokens", &f.audio_tokens}, {"--text-len", &f.text_len}, {"--rank", &f.rank},
      {"--steps", &f.steps},             {"--warmup", &f.warmup},           {"--threads", &f.threads},
      {"--keep-attention", &f.keep_attention}, {"--kept-attention-min-keys", &f.kept_attention_min_keys}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::cerr << "missing value after " << arg << "\n";
      usage();
      std::exit(2);
    }
    const std::string value = argv[++i];
    if (ints.count(arg)) {
      *ints[arg] = avtrain::bench::integer_flag(arg, value);
    } else if (arg == "--dtype") {
      f.dtype = value;
    } else if (arg == "--device") {
      f.device = value;
    } else if (arg == "--attention") {
      f.attention = value;
    } else if (arg == "--profile") {
      f.profile = value;
      if (!std::ofstream(value)) {  // found out now, not after the timed steps
        std::cerr << "--profile: cannot write " << value << "; give a writable file path\n";
        std::exit(2);
      }
    } else if (arg == "--grad-checkpointing") {
      f.grad_checkpointing = value != "0" && value != "false";
    } else {
      std::cerr << "unknown flag " << arg << "\n";
      usage();
      std::exit(2);
    }
  }
  return f;
}

// transformer.md §11, multiply-accumulates of one forward with B = 1.
double forward_macs(const TransformerConfig& c, double nv, double na, double l) {
  const double dv = c.video_dim(), da = c.audio_dim(), dx = c.av_dim(), h = c.video_heads;
  const double cv = c.cross_attention_dim, ca = c.audio_cross_attention_dim;
  const double video = 14 * nv * dv * dv + 2 * l * cv * dv + 2 * nv * nv * dv + 2 * nv * l * dv + 2 * nv * dv * h;
  const double audio = 14 * na * da * da + 2 * l * ca * da + 2 * na * na * da + 2 * na * l * da + 2 * na * da * h;
  const double av = 4 * nv * dv * dx + 4 * na * da * dx + 4 * nv * na * dx + nv * dv * h + na * da * h;
  const double outside = 2 * (nv * c.in_channels * dv + na * c.audio_in_channels * da) +
                         nv * (256 * dv + 10 * dv * dv) + na * (256 * da + 10 * da * da) +
                         nv * (256 * dv + 5 * dv * dv) + na * (256 * da + 5 * da * da);
  return c.num_layers * (video + audio + av) + outside;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = parse(argc, argv);
  // The program's own start-up (threads, allocator; AVTRAIN_ALLOCATOR=default measures without it).
  const auto runtime = avtrain::bench::start_runtime(f.threads);
  if (f.audio_heads != f.video_heads) {
    std::cerr << "--audio-heads must equal --video-heads (the model requires it, transformer.md §1.1)\n";
    return 2;
  }
  try {
    avtrain::models::select_attention_backend(f.attention);
  } catch (const avtrain::core::InvalidInput& e) {
    std::cerr << "--attention: " << e.what() << "\n";
    return 2;
  }
  const auto device = avtrain::bench::device_flag(f.device);
  const auto dtype = f.dtype == "fp32" ? torch::kFloat32 : torch::kBFloat16;
  torch::manual_seed(0);

  auto config = TransformerConfig::ltx23();
  config.num_layers = f.layers;
  config.video_heads = f.video_heads;
  config.video_head_dim = f.video_head_dim;
  config.audio_heads = f.audio_heads;
  config.audio_head_dim = f.audio_head_dim;
  config.cross_attention_dim = config.video_dim();
  config.audio_cross_attention_dim = config.audio_dim();

  // Built on the meta device, then every weight drawn directly where it lives (no fp32 host copy).
  const auto build_start = std::chrono::steady_clock::now();
  TransformerModel model(avtrain::models::WeightSource::meta(), config);
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  model->replace_weights([&](const std::string& key, const torch::Tensor& meta) {
    const auto shape = meta.sizes();
    const bool is_bias = key.size() >= 4 && key.compare(key.size() - 4, 4, "bias") == 0;
    if (key.find("table") != std::string::npos) return torch::randn(shape, options) * 0.3;
    if (shape.size() >= 2) return torch::randn(shape, options) / std::sqrt(static_cast<double>(shape[1]));
    if (is_bias) return torch::randn(shape, options) * 0.1;
    return 1 + torch::randn(shape, options) * 0.1;  // norm gains
  });
  model->set_gradient_checkpointing(f.grad_checkpointing);
  model->set_kept_attention(f.keep_attention, f.kept_attention_min_keys);

  // LoRA adapters (DECISIONS.md §22 targets), fp32: A Kaiming-uniform, B small random, alpha = rank.
  std::vector<torch::Tensor> adapters;
  const auto fp32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  for (auto& [name, linear] : model->named_linears()) {
    const bool attention = name.find("attn") != std::string::npos;
    const bool target = name.ends_with(".to_q") || name.ends_with(".to_k") || name.ends_with(".to_v") ||
                        name.ends_with(".to_out.0");
    if (!attention || !target) continue;
    const double bound = 1.0 / std::sqrt(static_cast<double>(linear->in_features));
    linear->lora_A = (torch::rand({f.rank, linear->in_features}, fp32) * 2 - 1).mul_(bound).requires_grad_();
    linear->lora_B = (torch::randn({linear->out_features, f.rank}, fp32) * 1e-3).requires_grad_();
    linear->lora_scale = 1.0;
    adapters.push_back(linear->lora_A);
    adapters.push_back(linear->lora_B);
  }
  // The trainer's optimizer step: AdamW (lr 2e-4, weight decay 0.01) after clipping the gradient norm at 1.
  const avtrain::train::AdamWSettings adamw;
  const auto optimizer = avtrain::train::make_adamw(adapters, adamw);
  synchronize(device);
  const double build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();

  // Inputs: target tokens (sigma 0.7) followed by a d = S = 1 reference of the same size (timestep 0).
  const int64_t tv = f.latent_frames * f.latent_h * f.latent_w, ta = f.audio_tokens;
  Modality video, audio;
  const auto target_positions = avtrain::models::video_positions(f.latent_frames, f.latent_h, f.latent_w, 24.0);
  const auto reference_positions =
      avtrain::models::reference_video_positions(f.latent_frames, f.latent_h, f.latent_w, 24.0, 1, 1);
  video.positions = torch::cat({target_positions, reference_positions}, 2).to(device);
  video.latent = torch::randn({1, 2 * tv, config.in_channels}, options);
  video.sigma = torch::full({1}, 0.7f, fp32);
  video.timesteps = torch::cat({torch::full({1, tv}, 0.7f, fp32), torch::zeros({1, tv}, fp32)}, 1);
  video.context = torch::randn({1, f.text_len, config.cross_attention_dim}, options);
  audio.positions = torch::cat({avtrain::models::audio_positions(ta), avtrain::models::audio_positions(ta)}, 2).to(device);
  audio.latent = torch::randn({1, 2 * ta, config.audio_in_channels}, options);
  audio.sigma = torch::full({1}, 0.7f, fp32);
  audio.timesteps = torch::cat({torch::full({1, ta}, 0.7f, fp32), torch::zeros({1, ta}, fp32)}, 1);
  audio.context = torch::randn({1, f.text_len, config.audio_cross_attention_dim}, options);
  const auto video_target = torch::randn({1, tv, config.out_channels}, fp32);
  const auto audio_target = torch::randn({1, ta, config.audio_out_channels}, fp32);

  const std::string kept = !f.grad_checkpointing    ? "-"
                           : f.keep_attention < 0   ? fmt::format("all blocks, >= {} keys", f.kept_attention_min_keys)
                           : fmt::format("{} blocks, >= {} keys", f.keep_attention, f.kept_attention_min_keys);
  std::printf("transformer_step: %s, LibTorch %s, %s %s, attention %s, grad checkpointing %s (kept attention: %s), "
              "%d thread(s), allocator %s\n",
              config.summary().c_str(), TORCH_VERSION, f.device.c_str(), f.dtype.c_str(), f.attention.c_str(),
              f.grad_checkpointing ? "on" : "off", kept.c_str(), torch::get_num_threads(),
              runtime.allocator_tuned ? "tuned" : "glibc default");
  std::printf("tokens: video %lld (+%lld reference), audio %lld (+%lld reference), text %lld; LoRA rank %lld on "
              "%zu linears; model built in %.1f s\n",
              static_cast<long long>(tv), static_cast<long long>(tv), static_cast<long long>(ta),
              static_cast<long long>(ta), static_cast<long long>(f.text_len), static_cast<long long>(f.rank),
              adapters.size() / 2, build_seconds);

  // One training step as the trainer takes it; waits for the device before returning.
  const auto train_step = [&] {
    avtrain::train::clear_gradients(*optimizer);
    const auto out = model->forward(video, audio);
    const auto loss = torch::mse_loss(out.video.narrow(1, 0, tv).to(torch::kFloat32), video_target) +
                      torch::mse_loss(out.audio.narrow(1, 0, ta).to(torch::kFloat32), audio_target);
    loss.backward();
    avtrain::train::clip_grad_norm(adapters, adamw.max_grad_norm);
    avtrain::train::adamw_step(*optimizer);
    const double value = loss.item<double>();
    synchronize(device);
    return value;
  };
  std::vector<double> seconds;
  const auto kept_before = avtrain::models::kept_attention_counts();
  for (int64_t step = 0; step < f.warmup + f.steps; ++step) {
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    const double loss_value = train_step();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("step %lld: %.3f s, loss %.4f%s\n", static_cast<long long>(step), s, loss_value,
                step < f.warmup ? " (warm-up)" : "");
    std::fflush(stdout);
    if (step >= f.warmup) seconds.push_back(s);
  }
  const auto kept_after = avtrain::models::kept_attention_counts();
  const auto all_steps = static_cast<double>(std::max<int64_t>(f.warmup + f.steps, 1));
  std::printf("kept attention per step: %.0f recorded, %.0f replayed\n",
              static_cast<double>(kept_after.recorded - kept_before.recorded) / all_steps,
              static_cast<double>(kept_after.replayed - kept_before.replayed) / all_steps);
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds.empty() ? 0.0 : seconds[seconds.size() / 2];
  const double forward_flop = 2 * forward_macs(config, 2.0 * tv, 2.0 * ta, static_cast<double>(f.text_len));
  const double step_flop = forward_flop * (f.grad_checkpointing ? 4 : 3);
  std::printf("median %.3f s/step over %zu steps; forward %.4g TFLOP, step %.4g TFLOP (x%d); %.4g TFLOP/s; peak "
              "memory %.2f GB (%s)\n",
              median, seconds.size(), forward_flop / 1e12, step_flop / 1e12, f.grad_checkpointing ? 4 : 3,
              median > 0 ? step_flop / median / 1e12 : 0.0, peak_memory_gb(device),
              avtrain::bench::peak_memory_kind(device));
  if (!f.profile.empty()) {
    synchronize(device);
    if (!avtrain::bench::profile_once([&] { train_step(); }, device, f.profile)) return 1;
  }
  return 0;
}
