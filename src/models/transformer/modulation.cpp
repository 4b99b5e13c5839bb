#include "models/transformer/modulation.h"

#include <torch/torch.h>

#include <utility>

#include "models/layers/rms_norm.h"
#include "models/transformer/adaln_single.h"

namespace avtrain::models {
namespace {

std::vector<int64_t> flatten_runs(const std::vector<TokenRun>& runs) {
  std::vector<int64_t> flat;
  flat.reserve(4 * runs.size());
  for (const auto& r : runs) flat.insert(flat.end(), {r.sample, r.start, r.length, r.row});
  return flat;
}

// Tokens of one run of a [B, T, D] tensor.
torch::Tensor run_of(const torch::Tensor& t, const int64_t* run) { return t.select(0, run[0]).narrow(0, run[1], run[2]); }

// base + a * ROW(b) per run: `a` [B, T, D] per token, `b` [U, D] one row per run, `base` per token [B, T, D]
// (a gated residual) or per row [U, D] (a modulation's shift). Exactly torch::addcmul on the gathered
// rows, one kernel per run; the rows get no gradient (they come from frozen AdaLN weights).
class RunAddcmul : public torch::autograd::Function<RunAddcmul> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& base,
                               const torch::Tensor& a, const torch::Tensor& b, std::vector<int64_t> runs) {
    const bool base_per_token = base.dim() == a.dim();
    auto out = torch::empty_like(a, torch::MemoryFormat::Contiguous);
    for (size_t i = 0; i < runs.size(); i += 4) {
      const int64_t* run = &runs[i];
      auto slice = run_of(out, run);
      at::addcmul_out(slice, base_per_token ? run_of(base, run) : base[run[3]], run_of(a, run), b[run[3]]);
    }
    ctx->save_for_backward({b});
    ctx->saved_data["runs"] = std::move(runs);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto& grad = grad_outputs[0];
    const auto b = ctx->get_saved_variables()[0];
    torch::Tensor grad_a;
    if (ctx->needs_input_grad(1)) {
      const auto runs = ctx->saved_data["runs"].toIntVector();
      grad_a = torch::empty_like(grad, torch::MemoryFormat::Contiguous);
      for (size_t i = 0; i < runs.size(); i += 4) {
        auto slice = run_of(grad_a, &runs[i]);
        at::mul_out(slice, run_of(grad, &runs[i]), b[runs[i + 3]]);
      }
    }
    // A per-token base passes the gradient through; a per-row one needs none (checked before applying).
    return {ctx->needs_input_grad(0) ? grad : torch::Tensor(), grad_a, torch::Tensor(), torch::Tensor()};
  }
};

// Whether the rows can be applied per run: there are runs, and nothing per row needs a gradient.
bool by_runs(const ModulationRows& m) { return !m.runs.empty() && !m.values.requires_grad(); }

}  // namespace

TokenModulation TokenModulation::from_index(torch::Tensor rows, torch::Tensor index) {
  TokenModulation m{std::move(rows), std::move(index), {}};
  const auto host = m.index.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t samples = host.size(0), tokens = host.size(1);
  const auto* values = host.data_ptr<int64_t>();
  for (int64_t b = 0; b < samples; ++b) {
    const auto* row = values + b * tokens;
    int64_t in_sample = 0;
    for (int64_t start = 0; start < tokens;) {
      int64_t end = start + 1;
      while (end < tokens && row[end] == row[start]) ++end;
      if (++in_sample > kMaxTokenRunsPerSample) {
        m.runs.clear();
        return m;
      }
      m.runs.push_back({b, start, end - start, row[start]});
      start = end;
    }
  }
  return m;
}

TokenModulation TokenModulation::with_rows(torch::Tensor other_rows) const {
  return {std::move(other_rows), index, runs};
}

torch::Tensor TokenModulation::per_token() const { return rows_per_token(rows, index); }

torch::Tensor ModulationRows::per_token(int64_t p) const { return rows_per_token(row(p), index); }

ModulationRows table_rows(const torch::Tensor& table, const TokenModulation& modulation) {
  return {table + modulation.rows.unflatten(-1, {table.size(0), table.size(1)}), modulation.index, modulation.runs};
}

torch::Tensor modulate(const torch::Tensor& x, const ModulationRows& m, int64_t scale_row, int64_t shift_row,
                       double eps) {
  return modulate_normed(rms_norm(x, eps), m, scale_row, shift_row);
}

torch::Tensor modulate_normed(const torch::Tensor& normed, const ModulationRows& m, int64_t scale_row,
                              int64_t shift_row) {
  const auto scale = 1 + m.row(scale_row);
  if (by_runs(m)) return RunAddcmul::apply(m.row(shift_row), normed, scale, flatten_runs(m.runs));
  return torch::addcmul(m.per_token(shift_row), normed, rows_per_token(scale, m.index));
}

torch::Tensor add_gated(const torch::Tensor& x, const torch::Tensor& update, const torch::Tensor& gate) {
  return torch::addcmul(x, update, gate);
}

torch::Tensor add_gated(const torch::Tensor& x, const torch::Tensor& update, const ModulationRows& m,
                        int64_t gate_row) {
  if (by_runs(m)) return RunAddcmul::apply(x, update, m.row(gate_row), flatten_runs(m.runs));
  return torch::addcmul(x, update, m.per_token(gate_row));
}

}  // namespace avtrain::models
