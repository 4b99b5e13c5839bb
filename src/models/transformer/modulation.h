#pragma once
// The AdaLN modulation of a block (transformer.md §5.4, §6.2): table rows, the modulated norm that feeds
// every sub-layer and the gated residual that takes its output back. Each is one pass over [B, T, D]
// where the reference spends two or three (addcmul rounds once where it rounds twice: within 1 bf16 ulp).
//
// The AdaLN MLPs run once per distinct timestep (§12.4), and the tokens of one timestep come in a few runs
// (a training sample: its target tokens at sigma, then its reference tokens at 0). The rows are applied to
// each run as a broadcast [D] vector, so no per-token [B, T, k, D] table is ever built; with many runs (or
// rows that need a gradient) they are gathered per token instead. Both give the same bits.

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace avtrain::models {

// Tokens [start, start + length) of sample `sample` all use distinct row `row`.
struct TokenRun {
  int64_t sample = 0, start = 0, length = 0, row = 0;
};

// More runs per sample than this: gather per token (each run costs a kernel launch per op).
constexpr int64_t kMaxTokenRunsPerSample = 16;

// A stream's per-token modulation: one row per distinct timestep and each token's row.
struct TokenModulation {
  torch::Tensor rows;          // [U, k*D]
  torch::Tensor index;         // [B, T] int64 into rows
  std::vector<TokenRun> runs;  // all tokens in runs of one row; empty when there are too many

  // Finds the runs of `index` (one copy of it to the host).
  static TokenModulation from_index(torch::Tensor rows, torch::Tensor index);
  // The same tokens with other rows (another AdaLN of the same timesteps).
  TokenModulation with_rows(torch::Tensor other_rows) const;
  // [B, T, k*D], the reference's per-token layout (traces and tests).
  torch::Tensor per_token() const;
};

// table [k, D] + each distinct modulation row: ROW(table, p) + CHUNK(mod, p) for every token's timestep.
struct ModulationRows {
  torch::Tensor values;  // [U, k, D]
  torch::Tensor index;   // [B, T]
  std::vector<TokenRun> runs;

  // Parameter p per distinct row [U, D], and gathered per token [B, T, D].
  torch::Tensor row(int64_t p) const { return values.select(1, p); }
  torch::Tensor per_token(int64_t p) const;
};
ModulationRows table_rows(const torch::Tensor& table, const TokenModulation& modulation);

// rms(x) * (1 + scale) + shift, with scale and shift parameters `scale_row` and `shift_row` of `m`.
torch::Tensor modulate(const torch::Tensor& x, const ModulationRows& m, int64_t scale_row, int64_t shift_row,
                       double eps);
// The same from rms(x) (`normed`), for one state modulated twice.
torch::Tensor modulate_normed(const torch::Tensor& normed, const ModulationRows& m, int64_t scale_row,
                              int64_t shift_row);

// x + update * gate: a gate broadcast over the tokens ([B, 1, D]) or parameter `gate_row` of `m`.
torch::Tensor add_gated(const torch::Tensor& x, const torch::Tensor& update, const torch::Tensor& gate);
torch::Tensor add_gated(const torch::Tensor& x, const torch::Tensor& update, const ModulationRows& m,
                        int64_t gate_row);

}  // namespace avtrain::models
