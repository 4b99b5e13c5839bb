#include "models/layers/scaled_dot_product.h"

#include <torch/torch.h>
#include <torch/version.h>
#if TORCH_VERSION_MAJOR >= 2
#include <ATen/SDPBackend.h>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/error.h"

namespace avtrain::models {

namespace {

// Query rows per chunk so that one chunk's float32 [B, H, rows, S] matrix stays within the budget.
int64_t chunk_rows(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes) {
  const int64_t row_bytes = std::max<int64_t>(q.size(0) * q.size(1) * k.size(2) * 4, 1);
  return std::clamp<int64_t>(budget_bytes / row_bytes, 1, std::max<int64_t>(q.size(2), 1));
}

double softmax_scale(const torch::Tensor& q) { return 1.0 / std::sqrt(static_cast<double>(q.size(-1))); }

// The plain path; also the log-sum-exp of each query row's scores ([B, H, T] float32) when asked for.
torch::Tensor plain_forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& mask, int64_t score_budget_bytes, torch::Tensor* logsumexp) {
  const int64_t queries = q.size(2), rows = chunk_rows(q, k, score_budget_bytes);
  const double scale = softmax_scale(q);
  // Scores from float32 operands, as the fused kernels accumulate them (a bf16 GEMM would round them).
  const auto q32 = q.to(torch::kFloat32);
  const auto kt = k.to(torch::kFloat32).transpose(-2, -1);
  std::vector<torch::Tensor> outputs, sums;
  for (int64_t start = 0; start < queries; start += rows) {
    const int64_t length = std::min(rows, queries - start);
    // Scores and softmax in float32, as the fused kernels compute them (transformer.md §12.1).
    auto scores = torch::matmul(q32.narrow(2, start, length), kt) * scale;
    if (mask.defined()) {
      const auto m = mask.size(-2) == 1 ? mask : mask.narrow(-2, start, length);
      scores = scores + m.to(torch::kFloat32);
    }
    if (logsumexp) sums.push_back(torch::logsumexp(scores, -1));
    outputs.push_back(torch::matmul(torch::softmax(scores, -1).to(v.scalar_type()), v));
  }
  if (logsumexp) *logsumexp = sums.size() == 1 ? sums.front() : torch::cat(sums, 2);
  return outputs.size() == 1 ? outputs.front() : torch::cat(outputs, 2);
}

// Gradients of the plain path from its output and log-sum-exp (no mask), one query chunk at a time:
// P = exp(S - lse), dV = P^T dO, dS = P * (dO V^T - rowsum(dO * O)), dQ = dS K / sqrt(d), dK = dS^T Q / sqrt(d).
std::array<torch::Tensor, 3> plain_backward(const torch::Tensor& grad_out, const torch::Tensor& q,
                                            const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& out,
                                            const torch::Tensor& logsumexp, int64_t score_budget_bytes) {
  // Three [rows, S] float32 matrices live at once (P, dP, dS): a third of the forward's rows.
  const int64_t queries = q.size(2), rows = std::max<int64_t>(chunk_rows(q, k, score_budget_bytes) / 3, 1);
  const double scale = softmax_scale(q);
  const auto q32 = q.to(torch::kFloat32), k32 = k.to(torch::kFloat32), v32 = v.to(torch::kFloat32);
  const auto go32 = grad_out.to(torch::kFloat32);
  const auto row_dot = (go32 * out.to(torch::kFloat32)).sum(-1, /*keepdim=*/true);  // rowsum(dO * O)
  auto dk = torch::zeros_like(k32), dv = torch::zeros_like(v32);
  std::vector<torch::Tensor> dq;
  for (int64_t start = 0; start < queries; start += rows) {
    const int64_t length = std::min(rows, queries - start);
    const auto qc = q32.narrow(2, start, length), goc = go32.narrow(2, start, length);
    const auto p = torch::exp(torch::matmul(qc, k32.transpose(-2, -1)) * scale -
                              logsumexp.narrow(2, start, length).unsqueeze(-1));
    dv += torch::matmul(p.transpose(-2, -1), goc);
    const auto ds = p * (torch::matmul(goc, v32.transpose(-2, -1)) - row_dot.narrow(2, start, length));
    dq.push_back(torch::matmul(ds, k32) * scale);
    dk += torch::matmul(ds.transpose(-2, -1), qc) * scale;
  }
  const auto dq_all = dq.size() == 1 ? dq.front() : torch::cat(dq, 2);
  return {dq_all.to(q.scalar_type()), dk.to(k.scalar_type()), dv.to(v.scalar_type())};
}

}  // namespace

torch::Tensor scaled_dot_product_plain(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       const torch::Tensor& mask, int64_t score_budget_bytes) {
  return plain_forward(q, k, v, mask, score_budget_bytes, nullptr);
}

namespace {

torch::Tensor compute(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask,
                      int64_t score_budget_bytes) {
#if TORCH_VERSION_MAJOR >= 2
  (void)score_budget_bytes;  // the fused kernels tile the scores themselves
  const auto m = mask.defined() ? std::optional<torch::Tensor>(mask.to(q.scalar_type())) : std::nullopt;
  return at::scaled_dot_product_attention(q, k, v, m);
#else
  return plain_forward(q, k, v, mask, score_budget_bytes, nullptr);
#endif
}

// ---- the attention tape

// The kernel a kept call ran, whose backward its replay uses.
enum class Kernel { plain, cpu_flash, flash, efficient, cudnn };

thread_local AttentionTape* active_tape = nullptr;
thread_local AttentionTapeScope::Mode active_mode = AttentionTapeScope::Mode::record;
std::atomic<int64_t> recorded_calls{0}, replayed_calls{0};

}  // namespace

struct AttentionTape::Entry : torch::CustomClassHolder {
  Kernel kernel = Kernel::plain;
  torch::Tensor out;        // the output; handed to the replay, which keeps it for the backward
  torch::Tensor logsumexp;  // the kernel's softmax statistics
  torch::Tensor cum_seq_q, cum_seq_k, philox_seed, philox_offset;  // the fused kernels' other outputs
  int64_t max_q = 0, max_k = 0;
  int64_t score_budget_bytes = 0;  // plain kernel
  std::vector<int64_t> q_sizes, k_sizes;
};

namespace {

using Entry = AttentionTape::Entry;

// Runs the attention as the fused path would, keeping what its backward needs; null where the kernel
// LibTorch picks keeps no statistics (math) or needs inputs changed first (flash with a head dim that is
// not a multiple of 8 is padded by at::scaled_dot_product_attention).
c10::intrusive_ptr<Entry> kept_forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       int64_t score_budget_bytes) {
  auto e = c10::make_intrusive<Entry>();
  e->q_sizes = q.sizes().vec();
  e->k_sizes = k.sizes().vec();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  (void)score_budget_bytes;
  const auto keep_fused = [&](auto&& result, Kernel kernel) {
    e->kernel = kernel;
    e->out = std::get<0>(result);
    e->logsumexp = std::get<1>(result);
    e->cum_seq_q = std::get<2>(result);
    e->cum_seq_k = std::get<3>(result);
    e->max_q = std::get<4>(result).expect_int();
    e->max_k = std::get<5>(result).expect_int();
    e->philox_seed = std::get<6>(result);
    e->philox_offset = std::get<7>(result);
  };
  // The kernel LibTorch would pick for this call with a graph: some kernels' backward rules out inputs their
  // forward takes, so the choice sees inputs that need gradients (aliases; the first run has none).
  const auto trainable = [](const torch::Tensor& t) { return t.detach().requires_grad_(); };
  switch (static_cast<at::SDPBackend>(at::_fused_sdp_choice(trainable(q), trainable(k), trainable(v)))) {
    case at::SDPBackend::flash_attention:
      if (q.device().is_cpu()) {
        e->kernel = Kernel::cpu_flash;
        std::tie(e->out, e->logsumexp) = at::_scaled_dot_product_flash_attention_for_cpu(q, k, v);
      } else if (q.size(-1) % 8 == 0) {
        keep_fused(at::_scaled_dot_product_flash_attention(q, k, v), Kernel::flash);
      } else {
        return {};
      }
      break;
    case at::SDPBackend::efficient_attention: {
      e->kernel = Kernel::efficient;
      std::tie(e->out, e->logsumexp, e->philox_seed, e->philox_offset) =
          at::_scaled_dot_product_efficient_attention(q, k, v, std::nullopt, /*compute_log_sumexp=*/true);
      break;
    }
    case at::SDPBackend::cudnn_attention:
      keep_fused(at::_scaled_dot_product_cudnn_attention(q, k, v, std::nullopt, /*compute_log_sumexp=*/true),
                 Kernel::cudnn);
      break;
    default:
      return {};
  }
#elif TORCH_VERSION_MAJOR >= 2
  (void)q, (void)k, (void)v, (void)score_budget_bytes;
  return {};  // LibTorch 2.0-2.4: the fused kernels' signatures differ; nothing is kept
#else
  e->kernel = Kernel::plain;
  e->score_budget_bytes = score_budget_bytes;
  e->out = plain_forward(q, k, v, {}, score_budget_bytes, &e->logsumexp);
#endif
  return e;
}

std::array<torch::Tensor, 3> kept_backward(const Entry& e, const torch::Tensor& grad_out, const torch::Tensor& q,
                                           const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& out) {
  switch (e.kernel) {
    case Kernel::plain:
      return plain_backward(grad_out, q, k, v, out, e.logsumexp, e.score_budget_bytes);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
    case Kernel::cpu_flash: {
      const auto [dq, dk, dv] =
          at::_scaled_dot_product_flash_attention_for_cpu_backward(grad_out, q, k, v, out, e.logsumexp, 0.0, false);
      return {dq, dk, dv};
    }
    case Kernel::flash: {
      const auto [dq, dk, dv] = at::_scaled_dot_product_flash_attention_backward(
          grad_out, q, k, v, out, e.logsumexp, e.cum_seq_q, e.cum_seq_k, e.max_q, e.max_k, 0.0, false, e.philox_seed,
          e.philox_offset);
      return {dq, dk, dv};
    }
    case Kernel::efficient: {
      const auto [dq, dk, dv, dbias] = at::_scaled_dot_product_efficient_attention_backward(
          grad_out, q, k, v, torch::Tensor(), out, e.logsumexp, e.philox_seed, e.philox_offset, 0.0,
          {true, true, true, false});
      (void)dbias;
      return {dq, dk, dv};
    }
    case Kernel::cudnn: {
      const auto [dq, dk, dv] = at::_scaled_dot_product_cudnn_attention_backward(
          grad_out, q, k, v, out, e.logsumexp, e.philox_seed, e.philox_offset, torch::Tensor(), e.cum_seq_q,
          e.cum_seq_k, e.max_q, e.max_k, 0.0, false);
      return {dq, dk, dv};
    }
#endif
    default:
      break;
  }
  throw std::logic_error(fmt::format("kept attention: no backward for kernel {} on LibTorch {}",
                                     static_cast<int>(e.kernel), TORCH_VERSION));
}

// The replayed call: the kept output, with the kernel's backward.
class KeptAttentionFunction : public torch::autograd::Function<KeptAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, c10::intrusive_ptr<Entry> entry,
                               const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    // The entry lets go of the output: saved here as this node's output, it is freed with the node's
    // saved tensors after its backward (an entry holding it would keep it, and the node, alive).
    auto out = std::move(entry->out);
    ctx->save_for_backward({q, k, v, out});
    ctx->saved_data["entry"] = c10::IValue::make_capsule(entry);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto capsule = ctx->saved_data["entry"].toCapsule();
    const auto& entry = *static_cast<Entry*>(capsule.get());
    const auto [dq, dk, dv] = kept_backward(entry, grad_outputs[0], saved[0], saved[1], saved[2], saved[3]);
    return {torch::Tensor(), dq, dk, dv};
  }
};

torch::Tensor record(AttentionTape& tape, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     int64_t score_budget_bytes) {
  auto entry = kept_forward(q, k, v, score_budget_bytes);
  tape.push(entry);
  if (!entry) return compute(q, k, v, {}, score_budget_bytes);
  ++recorded_calls;
  return entry->out;
}

// Undefined where the call was not kept (it runs again).
torch::Tensor replay(AttentionTape& tape, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  auto entry = tape.next();
  if (!entry) return {};
  TORCH_CHECK(entry->q_sizes == q.sizes().vec() && entry->k_sizes == k.sizes().vec() && entry->out.defined(),
              "kept attention: the recompute of a checkpointed block called attention with query ", q.sizes(),
              " and keys ", k.sizes(), " where its first run had ", c10::IntArrayRef(entry->q_sizes), " and ",
              c10::IntArrayRef(entry->k_sizes), " (the checkpointed function must be deterministic)");
  ++replayed_calls;
  return KeptAttentionFunction::apply(entry, q, k, v);
}

}  // namespace

torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& mask, int64_t score_budget_bytes) {
  if (active_tape && !mask.defined() && k.size(2) >= active_tape->min_keys()) {
    if (active_mode == AttentionTapeScope::Mode::record) return record(*active_tape, q, k, v, score_budget_bytes);
    if (auto out = replay(*active_tape, q, k, v); out.defined()) return out;
  }
  return compute(q, k, v, mask, score_budget_bytes);
}

KeptAttentionCounts kept_attention_counts() { return {recorded_calls.load(), replayed_calls.load()}; }

AttentionTape::AttentionTape(int64_t min_keys) : min_keys_(min_keys) {}
AttentionTape::~AttentionTape() = default;

int64_t AttentionTape::kept_bytes() const {
  int64_t bytes = 0;
  for (const auto& e : entries_) {
    if (!e) continue;
    for (const auto* t : {&e->out, &e->logsumexp}) {
      if (t->defined()) bytes += static_cast<int64_t>(t->nbytes());
    }
  }
  return bytes;
}

void AttentionTape::clear() {
  entries_.clear();
  replayed_ = 0;
}

void AttentionTape::push(c10::intrusive_ptr<Entry> entry) { entries_.push_back(std::move(entry)); }

c10::intrusive_ptr<AttentionTape::Entry> AttentionTape::next() {
  TORCH_CHECK(replayed_ < entries_.size(), "kept attention: the recompute of a checkpointed block made more "
              "attention calls than its first run (", entries_.size(), "); the function must be deterministic");
  return entries_[replayed_++];
}

AttentionTapeScope::AttentionTapeScope(AttentionTape& tape, Mode mode)
    : previous_tape_(active_tape), previous_mode_(active_mode) {
  active_tape = &tape;
  active_mode = mode;
}

AttentionTapeScope::~AttentionTapeScope() {
  active_tape = previous_tape_;
  active_mode = previous_mode_;
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
