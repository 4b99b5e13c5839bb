#include "models/layers/scaled_dot_product.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace avtrain::models {

torch::Tensor scaled_dot_product_plain(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       const torch::Tensor& mask, int64_t score_budget_bytes) {
  const int64_t batch = q.size(0), heads = q.size(1), queries = q.size(2), keys = k.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const int64_t row_bytes = std::max<int64_t>(batch * heads * keys * 4, 1);
  const int64_t rows = std::clamp<int64_t>(score_budget_bytes / row_bytes, 1, std::max<int64_t>(queries, 1));
  // Scores from float32 operands, as the fused kernels accumulate them (a bf16 GEMM would round them).
  const auto q32 = q.to(torch::kFloat32);
  const auto kt = k.to(torch::kFloat32).transpose(-2, -1);
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < queries; start += rows) {
    const int64_t length = std::min(rows, queries - start);
    // Scores and softmax in float32, as the fused kernels compute them (transformer.md §12.1).
    auto scores = torch::matmul(q32.narrow(2, start, length), kt) * scale;
    if (mask.defined()) {
      const auto m = mask.size(-2) == 1 ? mask : mask.narrow(-2, start, length);
      scores = scores + m.to(torch::kFloat32);
    }
    outputs.push_back(torch::matmul(torch::softmax(scores, -1).to(v.scalar_type()), v));
  }
  return outputs.size() == 1 ? outputs.front() : torch::cat(outputs, 2);
}

torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& mask, int64_t score_budget_bytes) {
#if TORCH_VERSION_MAJOR >= 2
  (void)score_budget_bytes;  // the fused kernels tile the scores themselves
  const auto m = mask.defined() ? std::optional<torch::Tensor>(mask.to(q.scalar_type())) : std::nullopt;
  return at::scaled_dot_product_attention(q, k, v, m);
#else
  return scaled_dot_product_plain(q, k, v, mask, score_budget_bytes);
#endif
}

void select_attention_backend(const std::string& name) {
  static const std::array<std::string, 5> kNames = {"auto", "flash", "efficient", "cudnn", "math"};
  if (std::find(kNames.begin(), kNames.end(), name) == kNames.end()) {
    throw core::InvalidInput(
        fmt::format("attention backend '{}' is unknown; use auto, flash, efficient, cudnn or math", name));
  }
#if TORCH_VERSION_MAJOR >= 2
#if TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 5
  if (name == "cudnn") throw core::InvalidInput("attention backend 'cudnn' needs LibTorch >= 2.5");
#endif
  auto& context = at::globalContext();
  // LibTorch's own settings, read before the first change, are what "auto" restores.
  struct Enabled {
    bool flash, efficient, math, cudnn;
  };
  static const Enabled defaults = {context.userEnabledFlashSDP(), context.userEnabledMemEfficientSDP(),
                                   context.userEnabledMathSDP(),
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
                                   context.userEnabledCuDNNSDP()
#else
                                   false
#endif
  };
  const bool restore = name == "auto";
  context.setSDPUseFlash(restore ? defaults.flash : name == "flash");
  context.setSDPUseMemEfficient(restore ? defaults.efficient : name == "efficient");
  context.setSDPUseMath(restore ? defaults.math : name == "math");
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
  context.setSDPUseCuDNN(restore ? defaults.cudnn : name == "cudnn");
#endif
#else
  if (name != "auto") {
    throw core::InvalidInput(fmt::format("attention backend '{}' needs LibTorch >= 2 (this is {}), whose "
                                         "scaled_dot_product_attention has fused kernels; here only 'auto'",
                                         name, TORCH_VERSION));
  }
#endif
}

}  // namespace avtrain::models
