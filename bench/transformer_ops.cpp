// The pieces of one transformer block timed alone at the video stream's full size, to see where a
// training step's time goes: the GEMMs and attention (compute-bound) against the norms, modulations,
// residuals, RoPE and LoRA additions (memory-bound). Each op runs forward only (no autograd) and forward +
// backward (input gradient and the adapters' gradients; the frozen weights get none, as in LoRA training).
// Prints one row per op: median milliseconds, and TFLOP/s for the compute-bound ops or the GB/s of the
// op's minimum traffic (each input read once, the output written once) for the memory-bound ones.
//
// Defaults: 13,824 tokens (768x768x89 with its d = 1 reference), Dv = 4096 (32 heads x 128), 1024 text
// rows, rank 32, bf16 on CUDA. The attention rows are repeated for each backend given to --attention.

#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_device.h"
#include "bench_flags.h"
#include "core/error.h"
#include "models/layers/linear.h"
#include "models/layers/rms_norm.h"
#include "models/layers/weight_source.h"
#include "models/transformer/attention.h"
#include "models/transformer/modulation.h"
#include "models/transformer/rope.h"
#include "models/layers/scaled_dot_product.h"

namespace {

using avtrain::bench::synchronize;
using avtrain::models::WeightSource;

struct Flags {
  int64_t tokens = 13824, heads = 32, head_dim = 128, text_len = 1024, rank = 32, reps = 5, threads = 0;
  std::string dtype = "bf16", device = "cuda", attention = "auto";
};

void usage() {
  std::cout << "bench_transformer_ops [--tokens N] [--heads N] [--head-dim N] [--text-len N] [--rank N] [--reps N]\n"
               "  [--threads N] [--dtype bf16|fp32] [--device cuda|cpu] [--attention NAME[,NAME...]]\n"
               "Attention backends: auto, flash, efficient, cudnn, math (LibTorch >= 2; 1.13: auto only).\n";
}

Flags parse(int argc, char** argv) {
  Flags f;
  std::map<std::string, int64_t*> ints = {{"--tokens", &f.tokens},     {"--heads", &f.heads},
                                          {"--head-dim", &f.head_dim}, {"--text-len", &f.text_len},
                                          {"--rank", &f.rank},         {"--reps", &f.reps},
                                          {"--threads", &f.threads}};
  std::map<std::string, std::string*> strings = {
      {"--dtype", &f.dtype}, {"--device", &f.device}, {"--attention", &f.attention}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc || (!ints.count(arg) && !strings.count(arg))) {
      std::cerr << (i + 1 >= argc ? "missing value after " : "unknown flag ") << arg << "\n";
      usage();
      std::exit(2);
    }
    if (ints.count(arg)) {
      *ints[arg] = avtrain::bench::integer_flag(arg, argv[++i]);
    } else {
      *strings[arg] = argv[++i];
    }
  }
  return f;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, separator);) parts.push_back(part);
  return parts;
}

// One row of the table. `forward` builds the op's output from its inputs; `inputs` are the tensors whose
// gradient the backward computes (leaves with requires_grad), besides any adapter inside the op.
struct Op {
  std::string name;
  std::function<torch::Tensor()> forward;
  std::vector<torch::Tensor> inputs;
  double forward_flop = 0;     // compute-bound ops: FLOP of one forward
  double backward_factor = 2;  // FLOP of forward + backward over the forward's
  double forward_bytes = 0;    // memory-bound ops: minimum bytes of one forward
};

struct Timing {
  double forward_ms = 0, training_ms = 0;
};

double median_ms(const torch::Device& device, int64_t reps, const std::function<void()>& run) {
  run();  // warm-up: kernels chosen, memory cached
  std::vector<double> ms;
  for (int64_t i = 0; i < reps; ++i) {
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    run();
    synchronize(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

Timing time_op(const Op& op, const torch::Device& device, int64_t reps) {
  Timing t;
  t.forward_ms = median_ms(device, reps, [&] {
    const torch::NoGradGuard no_grad;
    op.forward();
  });
  t.training_ms = median_ms(device, reps, [&] {
    const auto out = op.forward();
    out.backward(torch::ones_like(out));
    for (auto input : op.inputs) input.mutable_grad() = torch::Tensor();
  });
  return t;
}

void print_row(const Op& op, const Timing& t) {
  std::string rate = "-";
  char text[64];
  if (op.forward_flop > 0) {
    std::snprintf(text, sizeof(text), "%.3g / %.3g TFLOP/s", op.forward_flop / t.forward_ms / 1e9,
                  op.forward_flop * op.backward_factor / t.training_ms / 1e9);
    rate = text;
  } else if (op.forward_bytes > 0) {
    std::snprintf(text, sizeof(text), "%.3g GB/s fwd", op.forward_bytes / t.forward_ms / 1e6);
    rate = text;
  }
  std::printf("| %-34s | %9.3f | %9.3f | %-26s |\n", op.name.c_str(), t.forward_ms, t.training_ms, rate.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = parse(argc, argv);
  avtrain::bench::start_runtime(f.threads);
  const auto device = avtrain::bench::device_flag(f.device);
  const auto dtype = f.dtype == "fp32" ? torch::kFloat32 : torch::kBFloat16;
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  const double element = dtype == torch::kFloat32 ? 4 : 2;
  const int64_t n = f.tokens, h = f.heads, d = f.head_dim, dim = h * d, l = f.text_len;
  const double eps = 1e-6;
  torch::manual_seed(0);

  const auto leaf = [&](std::vector<int64_t> shape) { return torch::randn(shape, options).requires_grad_(); };
  const auto constant = [&](std::vector<int64_t> shape) { return torch::randn(shape, options) * 0.1; };
  const auto weights = WeightSource::random(1, "", options);
  const auto adapter_options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto with_adapter = [&](avtrain::models::Linear linear) {
    linear->lora_A = (torch::randn({f.rank, linear->in_features}, adapter_options) * 0.01).requires_grad_();
    linear->lora_B = (torch::randn({linear->out_features, f.rank}, adapter_options) * 0.01).requires_grad_();
    return linear;
  };

  const auto x = leaf({1, n, dim});
  // A training sample's modulation: target tokens at sigma, then reference tokens at 0 (two runs), applied
  // by runs as the model does, and gathered per token as it does with many runs.
  const auto table = constant({9, dim});
  const auto index = torch::cat({torch::zeros({1, n / 2}, torch::kLong), torch::ones({1, n - n / 2}, torch::kLong)}, 1);
  const auto by_runs = avtrain::models::table_rows(
      table, avtrain::models::TokenModulation::from_index(constant({2, 9 * dim}), index.to(device)));
  auto gathered = by_runs;
  gathered.runs.clear();
  const auto update = leaf({1, n, dim});
  avtrain::models::Linear plain(weights.at("plain"), dim, dim);
  auto adapted = with_adapter(avtrain::models::Linear(weights.at("adapted"), dim, dim));
  avtrain::models::FeedForward ff(weights.at("ff"), dim, 4 * dim, true);
  avtrain::models::RmsNorm q_norm(weights.at("q_norm"), dim, eps);
  const auto q = leaf({1, h, n, d}), k = leaf({1, h, n, d}), v = leaf({1, h, n, d});
  const auto text_k = leaf({1, h, l, d}), text_v = leaf({1, h, l, d});
  const auto rope = avtrain::models::rope_from_tables(constant({1, h, n, d / 2}) + 1, constant({1, h, n, d / 2}));
  const auto q_rows = leaf({1, n, dim});  // q as the attention rotates it: token-major, heads not yet split
  const double bytes = static_cast<double>(n * dim) * element;  // one [1, T, D] tensor

  std::vector<Op> ops = {
      {"linear D->D", [&] { return plain(x); }, {x}, 2.0 * n * dim * dim, 2},
      {"linear D->D + LoRA", [&] { return adapted(x); }, {x}, 2.0 * n * dim * dim, 2},
      {"ffn D->4D->D (gelu tanh)", [&] { return ff(x); }, {x}, 2.0 * 8 * n * dim * dim, 2},
      {"rms_norm", [&] { return avtrain::models::rms_norm(x, eps); }, {x}, 0, 0, 2 * bytes},
      {"q/k norm (weighted rms_norm)", [&] { return q_norm(x); }, {x}, 0, 0, 2 * bytes},
      {"modulate (2 runs)", [&] { return avtrain::models::modulate(x, by_runs, 1, 0, eps); }, {x}, 0, 0, 2 * bytes},
      {"modulate (gathered per token)", [&] { return avtrain::models::modulate(x, gathered, 1, 0, eps); }, {x}, 0,
       0, 4 * bytes},
      {"gated residual (2 runs)", [&] { return avtrain::models::add_gated(x, update, by_runs, 2); }, {x, update}, 0,
       0, 3 * bytes},
      {"gated residual (gathered)", [&] { return avtrain::models::add_gated(x, update, gathered, 2); }, {x, update},
       0, 0, 4 * bytes},
      {"rope on q", [&] { return avtrain::models::apply_rope(q_rows, rope); }, {q_rows}, 0, 0, 4 * bytes},
  };
  for (const auto& backend : split(f.attention, ',')) {
    ops.push_back({"attention self T x T [" + backend + "]",
                   [&] { return avtrain::models::scaled_dot_product(q, k, v); }, {q, k, v},
                   4.0 * n * n * dim, 3.5});
    ops.push_back({"attention text T x L [" + backend + "]",
                   [&] { return avtrain::models::scaled_dot_product(q, text_k, text_v); },
                   {q, text_k, text_v}, 4.0 * n * l * dim, 3.5});
  }

  std::printf("transformer_ops: LibTorch %s, %s %s, T = %lld tokens, D = %lld (%lld x %lld), L = %lld, rank %lld, "
              "%lld reps (median)\n",
              TORCH_VERSION, f.device.c_str(), f.dtype.c_str(), static_cast<long long>(n),
              static_cast<long long>(dim), static_cast<long long>(h), static_cast<long long>(d),
              static_cast<long long>(l), static_cast<long long>(f.rank), static_cast<long long>(f.reps));
  std::printf("| %-34s | %9s | %9s | %-26s |\n", "op", "fwd ms", "fwd+bwd ms", "rate (fwd / fwd+bwd)");
  std::printf("|%s|%s|%s|%s|\n", std::string(36, '-').c_str(), std::string(11, '-').c_str(),
              std::string(11, '-').c_str(), std::string(28, '-').c_str());
  std::string current_backend;
  for (const auto& op : ops) {
    const auto open = op.name.find('['), close = op.name.find(']');
    if (open != std::string::npos) {
      const auto backend = op.name.substr(open + 1, close - open - 1);
      if (backend != current_backend) {
        try {
          avtrain::models::select_attention_backend(backend);
        } catch (const avtrain::core::InvalidInput& e) {
          std::printf("| %-34s | %s\n", op.name.c_str(), e.what());
          continue;
        }
        current_backend = backend;
      }
    }
    try {
      print_row(op, time_op(op, device, f.reps));
    } catch (const c10::Error& e) {  // e.g. a backend that refuses these shapes
      std::printf("| %-34s | failed: %s\n", op.name.c_str(), e.what_without_backtrace());
    }
  }
  std::printf("peak memory %.2f GB (%s)\n", avtrain::bench::peak_memory_gb(device),
              avtrain::bench::peak_memory_kind(device));
  return 0;
}
