#pragma once
// Split rotary position embedding (transformer.md §4.3): tables built once per forward from token
// positions, applied per head to q and k after their RMSNorm.

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace avtrain::models {

// The tables of one rotation, token-major like the q and k they rotate: [B, T, H, 2, head_dim/2] in the
// compute dtype, the cosine repeated for both halves and the sine signed per half (-sin, +sin). With them a
// rotation is one product of same-shaped contiguous tensors and one fused multiply-add per half.
struct Rope {
  torch::Tensor cos_pairs, signed_sin;

  // The reference's tables, [B, H, T, head_dim/2] (views, for the debug records).
  torch::Tensor cos() const;
  torch::Tensor sin() const;
};

// A Rope from the reference's two tables [B, H, T, head_dim/2].
Rope rope_from_tables(const torch::Tensor& cos, const torch::Tensor& sin);

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

// x [B, T, H * d] (token-major, heads not yet split) -> per head the rotated halves
// (x1 c - x2 s, x2 c + x1 s), in x's dtype and layout, rounded as the reference rounds them: x c first,
// then the other half's sine term added in one fused step (addcmul). One autograd node: its backward is
// the inverse rotation. Rows whose width is not the tables' H * d are refused, naming both widths.
torch::Tensor apply_rope(const torch::Tensor& x, const Rope& rope);

}  // namespace avtrain::models
