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
  // [B, T, dim/2] -> token-major pairs [B, T, H, 2, dim/(2H)]: head h takes the h-th run of dim/(2H) entries.
  const auto pairs = [&](const torch::Tensor& first, const torch::Tensor& second) {
    const auto per_head = [&](const torch::Tensor& t) { return t.unflatten(-1, {o.heads, half / o.heads}); };
    return torch::stack({per_head(first), per_head(second)}, -2).to(dtype);
  };
  return {pairs(cos, cos), pairs(-sin, sin)};
}

torch::Tensor Rope::cos() const { return cos_pairs.select(-2, 0).transpose(1, 2); }
torch::Tensor Rope::sin() const { return signed_sin.select(-2, 1).transpose(1, 2); }

Rope rope_from_tables(const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto token_major = [](const torch::Tensor& t) { return t.transpose(1, 2); };  // [B, T, H, d/2]
  return {torch::stack({token_major(cos), token_major(cos)}, -2),
          torch::stack({token_major(-sin), token_major(sin)}, -2)};
}

namespace {

// Rotates x [B, T, H*d] by the tables; direction -1 rotates back (the sines' signs flipped).
torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos_pairs, const torch::Tensor& signed_sin,
                     double direction) {
  const auto halves = x.unflatten(-1, {cos_pairs.size(-3), 2, cos_pairs.size(-1)});  // [B, T, H, 2, d/2]
  auto out = halves * cos_pairs;
  out.select(-2, 0).addcmul_(halves.select(-2, 1), signed_sin.select(-2, 0), direction);
  out.select(-2, 1).addcmul_(halves.select(-2, 0), signed_sin.select(-2, 1), direction);
  return out.flatten(-3);
}

// The rotation as one autograd node: its backward is the inverse rotation, three passes over the gradient
// where autograd's graph of the forward's ops takes more; the tables (functions of positions) get none.
class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& cos_pairs, const torch::Tensor& signed_sin) {
    ctx->save_for_backward({cos_pairs, signed_sin});
    return rotate(x, cos_pairs, signed_sin, 1.0);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    return {rotate(grad_outputs[0], saved[0], saved[1], -1.0), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor apply_rope(const torch::Tensor& x, const Rope& rope) {
  TORCH_CHECK(x.size(-1) == rope.cos_pairs.size(-3) * 2 * rope.cos_pairs.size(-1), "RoPE of width ",
              rope.cos_pairs.size(-3) * 2 * rope.cos_pairs.size(-1), " applied to rows of ", x.size(-1));
  return RopeFunction::apply(x, rope.cos_pairs, rope.signed_sin);
}

}  // namespace avtrain::models
