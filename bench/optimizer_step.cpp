// The trainer's optimizer step over LoRA adapters: gradient clipping and AdamW, as the trainer runs them
// (multi-tensor kernels: train/optimizer.h) against torch::optim::AdamW::step with a per-tensor clip (a few
// kernels per tensor). At the full model's count (2,304 adapter tensors: rank 32 on to_q/to_k/to_v/to_out.0
// of six attention modules in 48 blocks) the per-tensor path's cost on a GPU is mostly kernel launches.
// Flags: --tensors N --rows N --cols N (each adapter tensor is [rows, cols]; defaults 2304 x [32, 4096],
// about 302 M fp32 values) --steps N --device cuda|cpu --threads N.

#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench_device.h"
#include "bench_flags.h"
#include "train/optimizer.h"

namespace {

using avtrain::bench::synchronize;

struct Flags {
  int64_t tensors = 2304, rows = 32, cols = 4096, steps = 10, threads = 0;
  std::string device = "cuda";
};

void usage() {
  std::cerr << "bench_optimizer_step [--tensors N] [--rows N] [--cols N] [--steps N] [--device cuda|cpu] "
               "[--threads N]\n";
}

Flags parse(int argc, char** argv) {
  Flags f;
  std::map<std::string, int64_t*> ints = {{"--tensors", &f.tensors}, {"--rows", &f.rows},   {"--cols", &f.cols},
                                          {"--steps", &f.steps},     {"--threads", &f.threads}};
  for (int i = 1; i < argc; i += 2) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "missing value after " << arg << "\n";
      usage();
      std::exit(2);
    }
    const std::string value = argv[i + 1];
    if (ints.count(arg)) {
      *ints[arg] = avtrain::bench::integer_flag(arg, value);
    } else if (arg == "--device") {
      f.device = value;
    } else {
      std::cerr << "unknown flag " << arg << "\n";
      usage();
      std::exit(2);
    }
  }
  for (const auto& [name, value] : ints) {
    if (name != "--threads" && *value < 1) {
      std::cerr << name << " must be at least 1, got " << *value << "\n";
      std::exit(2);
    }
  }
  return f;
}

// The per-tensor clip the trainer used before: one norm, cast and scale per tensor.
void clip_per_tensor(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters) norms.push_back(p.grad().norm(2).to(torch::kFloat32));
  const auto coef = (torch::stack(norms).norm(2) + 1e-6).reciprocal() * max_norm;
  if (coef.item<double>() < 1) {
    for (const auto& p : parameters) p.grad().mul_(coef);
  }
}

// Median milliseconds of `step` over `steps` runs after one warm-up, with fresh gradients each time.
double median_ms(const Flags& f, const torch::Device& device, const std::vector<torch::Tensor>& parameters,
                 const std::function<void()>& step) {
  std::vector<double> ms;
  for (int64_t i = 0; i <= f.steps; ++i) {
    for (const auto& p : parameters) p.mutable_grad() = torch::full_like(p, 1e-3);
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    step();
    synchronize(device);
    if (i > 0) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = parse(argc, argv);
  avtrain::bench::start_runtime(f.threads);
  const auto device = avtrain::bench::device_flag(f.device);
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  std::vector<torch::Tensor> ours, theirs;
  for (int64_t i = 0; i < f.tensors; ++i) {
    ours.push_back(torch::randn({f.rows, f.cols}, options).requires_grad_());
    theirs.push_back(ours.back().detach().clone().requires_grad_());
  }
  const avtrain::train::AdamWSettings settings;
  const auto ours_optimizer = avtrain::train::make_adamw(ours, settings);
  const auto theirs_optimizer = avtrain::train::make_adamw(theirs, settings);

  std::printf("optimizer_step: LibTorch %s, %s, %lld tensors of [%lld, %lld] fp32 (%.0f M values), %lld steps "
              "(median)\n",
              TORCH_VERSION, f.device.c_str(), static_cast<long long>(f.tensors), static_cast<long long>(f.rows),
              static_cast<long long>(f.cols), static_cast<double>(f.tensors * f.rows * f.cols) / 1e6,
              static_cast<long long>(f.steps));
  std::printf("| %-40s | %9s |\n", "clip + AdamW", "ms/step");
  std::printf("|%s|%s|\n", std::string(42, '-').c_str(), std::string(11, '-').c_str());
  const double multi = median_ms(f, device, ours, [&] {
    avtrain::train::clip_grad_norm(ours, settings.max_grad_norm);
    avtrain::train::adamw_step(*ours_optimizer);
  });
  std::printf("| %-40s | %9.3f |\n", "multi-tensor (the trainer's)", multi);
  const double per_tensor = median_ms(f, device, theirs, [&] {
    clip_per_tensor(theirs, settings.max_grad_norm);
    theirs_optimizer->step();
  });
  std::printf("| %-40s | %9.3f |\n", "per tensor (AdamW::step)", per_tensor);
  return 0;
}
