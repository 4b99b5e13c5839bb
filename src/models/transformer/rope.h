#pragma once
// Split rotary position embedding (transformer.md §4.3): tables built once per forward from token
// positions, applied per head to q and k after their RMSNorm.

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace avtrain::models {

// cos and sin, [B, H, T, head_dim/2] in the compute dtype (the reference's tables), and the sine signed
// per half, [B, H, T, 2, head_dim/2] = (-sin, +sin), so that a rotation is one fused multiply-add.
struct Rope {
  torch::Tensor cos, sin;
  torch::Tensor signed_sin;
};

// A Rope from its two tables [B, H, T, head_dim/2].
Rope rope_from_tables(torch::Tensor cos, torch::Tensor sin);

struct RopeOptions {
  int64_t dim = 0;    // rotary width: the attention's inner dim (heads x head_dim)
  int64_t heads = 0;  // heads the table is split over
  std::vector<double> max_pos;  // one normalizer per position axis
  double theta = 10000.0;
  bool double_precision = true;  // frequencies_precision == "float64"
};

// omega_k = (pi/2) theta^(k/(K-1)), k < K, as float32: formed in float64 (numpy's linspace and power)
// when `double_precision`, else in float32 (§4.3 step 1).
torch::Tensor rope_frequencies(int64_t count, double theta, bool double_precision);

// positions [B, n_axes, T, 2] float32 [start, end) bounds -> tables in `dtype`. The angles are formed in
// float32 in the reference's order: midpoint (start + end) / 2, / max_pos, * 2 - 1, * omega (an fp32
// island: the angles reach 1.6e4 rad, so their rounding is what the golden data pins down).
Rope build_rope(const torch::Tensor& positions, const RopeOptions& options, torch::ScalarType dtype);

// x [B, H, T, d] -> rotated halves (x1 c - x2 s, x2 c + x1 s), in x's dtype, rounded as the reference
// rounds them: x c first, then the other half's sine term added in one fused step (addcmul).
torch::Tensor apply_rope(const torch::Tensor& x, const Rope& rope);

}  // namespace avtrain::models
