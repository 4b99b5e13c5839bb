#pragma once
// The AdaLN modulation of a block (transformer.md §5.4, §6.2): table rows, the modulated norm that feeds
// every sub-layer and the gated residual that takes its output back. Each is one pass over [B, T, D]
// where the reference spends two or three (addcmul rounds once where it rounds twice: within 1 bf16 ulp).

#include <torch/types.h>

namespace avtrain::models {

// table [k, D] + modulation [B, T, k*D] -> [B, T, k, D]: row p is ROW(table, p) + CHUNK(mod, p).
torch::Tensor table_rows(const torch::Tensor& table, const torch::Tensor& modulation);

// rms(x) * (1 + scale) + shift.
torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& scale, const torch::Tensor& shift, double eps);

// x + update * gate.
torch::Tensor add_gated(const torch::Tensor& x, const torch::Tensor& update, const torch::Tensor& gate);

}  // namespace avtrain::models
