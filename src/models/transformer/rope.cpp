#include "models/transformer/rope.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace avtrain::models {

torch::Tensor rope_frequencies(int64_t count, double theta, bool double_precision) {
  TORCH_CHECK(count >= 2, "RoPE needs at least 2 frequencies, got ", count);
  if (double_precision) {
    // numpy.linspace(0, 1, K): k * (1 / (K - 1)) with the last point exactly 1; then theta ** x.
    std::vector<float> values(static_cast<size_t>(count));
    const double step = 1.0 / static_cast<double>(count - 1);
    for (int64_t k = 0; k < count; ++k) {
      const double x = k == count - 1 ? 1.0 : static_cast<double>(k) * step;
      values[static_cast<size_t>(k)] = static_cast<float>(std::pow(theta, x) * M_PI / 2.0);
    }
    return torch::from_blob(values.data(), {count}, torch::kFloat32).clone();
  }
  const auto x = torch::linspace(0.0, 1.0, count, torch::kFloat32);
  return torch::pow(static_cast<float>(theta), x) * static_cast<float>(M_PI / 2.0);
}

Rope build_rope(const torch::Tensor& positions, const RopeOptions& o, torch::ScalarType dtype) {
  TORCH_CHECK(positions.dim() == 4 && positions.size(-1) == 2, "RoPE positions must be [B, axes, T, 2], got ",
              positions.sizes());
  const int64_t axes = positions.size(1);
  TORCH_CHECK(static_cast<int64_t>(o.max_pos.size()) == axes, "RoPE: ", o.max_pos.size(),
              " normalizers for ", axes, " position axes");
  TORCH_CHECK(o.dim % (2 * o.heads) == 0, "RoPE width ", o.dim, " does not split over ", o.heads, " heads");
  const int64_t half = o.dim / 2;
  const int64_t count = o.dim / (2 * axes);  // K
  const int64_t pad = half - count * axes;
  const auto omega = rope_frequencies(count, o.theta, o.double_precision).to(positions.device());

  const auto p = positions.to(torch::kFloat32);
  const auto middle = (p.select(-1, 0) + p.select(-1, 1)) / 2;  // [B, n, T]
  std::vector<torch::Tensor> fractions;
  for (int64_t a = 0; a < axes; ++a) {
    fractions.push_back(middle.select(1, a) / static_cast<float>(o.max_pos[static_cast<size_t>(a)]));
  }
  const auto u = torch::stack(fractions, -1);  // [B, T, n]
  // angle[b, t, k, a] = omega_k * (2u - 1); flattened with the axis index fastest (§4.3 step 4).
  const auto angles = ((u * 2 - 1).unsqueeze(-2) * omega.view({count, 1})).flatten(-2);  // [B, T, K*n]
  auto cos = torch::cos(angles), sin = torch::sin(angles);
  if (pad > 0) {  // identity entries PREPENDED (§4.3 step 5)
    const auto shape = std::vector<int64_t>{angles.size(0), angles.size(1), pad};
    cos = torch::cat({torch::ones(shape, cos.options()), cos}, -1);
    sin = torch::cat({torch::zeros(shape, sin.options()), sin}, -1);
  }
  const auto per_head = [&](const torch::Tensor& t) {  // [B, T, dim/2] -> [B, H, T, dim/(2H)], head-major
    return t.unflatten(-1, {o.heads, half / o.heads}).transpose(1, 2).contiguous().to(dtype);
  };
  return rope_from_tables(per_head(cos), per_head(sin));
}

Rope rope_from_tables(torch::Tensor cos, torch::Tensor sin) {
  auto signed_sin = torch::stack({-sin, sin}, -2);
  return {std::move(cos), std::move(sin), std::move(signed_sin)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const Rope& rope) {
  // Three passes over x (product, swap of the halves, fused add) where the halves formula takes seven.
  const auto halves = x.unflatten(-1, {2, -1});  // [B, H, T, 2, d/2]: (x1, x2)
  return torch::addcmul(halves * rope.cos.unsqueeze(-2), halves.flip(-2), rope.signed_sin).flatten(-2);
}

}  // namespace avtrain::models
