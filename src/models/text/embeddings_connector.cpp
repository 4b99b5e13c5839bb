#include "models/text/embeddings_connector.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "models/layers/rms_norm.h"
#include "models/layers/scaled_dot_product.h"

namespace avtrain::models::text {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Split RoPE (text_encoder.md §4.3): per head, (x1, x2) -> (x1*cos - sin*x2, x2*cos + sin*x1); the
// reference multiplies by cos first (rounded) and adds the sin term with addcmul (one rounding).
torch::Tensor apply_split_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                               int64_t heads) {
  const auto batch = x.size(0), seq_len = x.size(1);
  const auto per_head = x.view({batch, seq_len, heads, -1}).transpose(1, 2);  // [B,H,T,Dh]
  const auto half = per_head.size(-1) / 2;
  const auto x1 = per_head.narrow(-1, 0, half), x2 = per_head.narrow(-1, half, half);
  const auto out1 = torch::addcmul(x1 * cos, -sin, x2);
  const auto out2 = torch::addcmul(x2 * cos, sin, x1);
  return torch::cat({out1, out2}, -1).transpose(1, 2).reshape({batch, seq_len, -1});
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> connector_rope(const ConnectorOptions& options, int64_t seq_len,
                                                       torch::ScalarType dtype, torch::Device device) {
  const int64_t frequencies = options.inner_dim() / 2;  // one position axis: inner_dim // (2 * 1)
  torch::Tensor grid;
  if (options.float64_grid) {
    // numpy: theta ** linspace(0, 1, F) in float64 (element i = i * (1 / (F - 1)), the last exactly 1),
    // times pi, over 2, then float32.
    std::vector<float> values(frequencies);
    const double step = frequencies > 1 ? 1.0 / static_cast<double>(frequencies - 1) : 0.0;
    for (int64_t i = 0; i < frequencies; ++i) {
      const double exponent = (i == frequencies - 1 && frequencies > 1) ? 1.0 : static_cast<double>(i) * step;
      values[i] = static_cast<float>(std::pow(options.theta, exponent) * kPi / 2);
    }
    grid = torch::tensor(values, torch::kFloat32);
  } else {
    grid = torch::pow(options.theta, torch::linspace(0, 1, frequencies, torch::kFloat32)) * kPi / 2;
  }
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto positions = torch::arange(seq_len, f32);
  const auto fractional = positions / static_cast<double>(options.max_pos);
  const auto angles = grid.to(device).unsqueeze(0) * (fractional * 2 - 1).unsqueeze(1);  // [T, F]
  const auto layout = [&](const torch::Tensor& t) {
    return t.view({seq_len, options.heads, options.head_dim / 2}).transpose(0, 1).unsqueeze(0).to(dtype);
  };
  return {layout(angles.cos()), layout(angles.sin())};
}

ConnectorRmsNormImpl::ConnectorRmsNormImpl(const WeightSource& w, int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", w.take("weight", {dim}), /*requires_grad=*/false);
}

torch::Tensor ConnectorRmsNormImpl::forward(const torch::Tensor& x) {
  const auto x32 = x.to(torch::kFloat32);
  return (x32 * torch::rsqrt(x32.square().mean(-1, /*keepdim=*/true) + eps) * weight.to(torch::kFloat32))
      .to(x.scalar_type());
}

ConnectorAttentionImpl::ConnectorAttentionImpl(const WeightSource& w, const ConnectorOptions& o)
    : options(o) {
  const auto dim = o.inner_dim();
  to_q = register_module("to_q", Linear(w.at("to_q"), dim, dim));
  to_k = register_module("to_k", Linear(w.at("to_k"), dim, dim));
  to_v = register_module("to_v", Linear(w.at("to_v"), dim, dim));
  q_norm = register_module("q_norm", ConnectorRmsNorm(w.at("q_norm"), dim, o.norm_eps));
  k_norm = register_module("k_norm", ConnectorRmsNorm(w.at("k_norm"), dim, o.norm_eps));
  if (o.gated)
    to_gate_logits = register_module("to_gate_logits", Linear(w.at("to_gate_logits"), dim, o.heads));
  to_out_0 = Linear(w.at("to_out.0"), dim, dim);
  register_module("to_out", torch::nn::ModuleList(to_out_0));  // "to_out.0": no dots allowed in a name
}

torch::Tensor ConnectorAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                              const torch::Tensor& sin) {
  const auto batch = x.size(0), seq_len = x.size(1);
  const auto heads = options.heads, head_dim = options.head_dim;
  const auto q = apply_split_rope(q_norm(to_q(x)), cos, sin, heads);
  const auto k = apply_split_rope(k_norm(to_k(x)), cos, sin, heads);
  const auto v = to_v(x);
  const auto split = [&](const torch::Tensor& t) {
    return t.view({batch, seq_len, heads, head_dim}).transpose(1, 2);
  };
  // The reference passes an all-zero additive mask: plain softmax(q k^T / sqrt(Dh)) v.
  auto out = scaled_dot_product(split(q), split(k), split(v)).transpose(1, 2);  // [B,T,H,Dh]
  if (to_gate_logits) {  // 2 * sigmoid(logits of the normed input), one gate per head and token
    out = out * (2.0 * torch::sigmoid(to_gate_logits(x))).unsqueeze(-1);
  }
  return to_out_0(out.reshape({batch, seq_len, heads * head_dim}));
}

ConnectorFeedForwardImpl::ConnectorFeedForwardImpl(const WeightSource& w, int64_t dim, bool bias) {
  const auto net = w.at("net");
  net_0_proj = Linear(net.at("0").at("proj"), dim, 4 * dim, bias);
  net_2 = Linear(net.at("2"), 4 * dim, dim, bias);
  // Module paths "net.0.proj" and "net.2" (net.1 is the reference's dropout, without weights).
  auto net_module = register_module("net", std::make_shared<torch::nn::Module>());
  auto gelu = net_module->register_module("0", std::make_shared<torch::nn::Module>());
  gelu->register_module("proj", net_0_proj);
  net_module->register_module("2", net_2);
}

torch::Tensor ConnectorFeedForwardImpl::forward(const torch::Tensor& x) {
  return net_2(torch::gelu(net_0_proj(x), "tanh"));
}

ConnectorBlockImpl::ConnectorBlockImpl(const WeightSource& w, const ConnectorOptions& o)
    : norm_eps(o.norm_eps) {
  attn1 = register_module("attn1", ConnectorAttention(w.at("attn1"), o));
  ff = register_module("ff", ConnectorFeedForward(w.at("ff"), o.inner_dim(), o.ff_bias));
}

torch::Tensor ConnectorBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin) {
  const auto h = attn1(rms_norm(x, norm_eps), cos, sin) + x;
  return ff(rms_norm(h, norm_eps)) + h;
}

EmbeddingsConnectorImpl::EmbeddingsConnectorImpl(const WeightSource& w, const ConnectorOptions& o)
    : options(o) {
  learnable_registers = register_parameter(
      "learnable_registers", w.take("learnable_registers", {o.num_registers, o.inner_dim()}, Init::normal),
      /*requires_grad=*/false);
  transformer_1d_blocks = register_module("transformer_1d_blocks", torch::nn::ModuleList());
  const auto blocks = w.at("transformer_1d_blocks");
  for (int64_t i = 0; i < o.num_layers; ++i)
    transformer_1d_blocks->push_back(ConnectorBlock(blocks.at(std::to_string(i)), o));
}

torch::Tensor EmbeddingsConnectorImpl::forward(const torch::Tensor& features, const torch::Tensor& valid,
                                               std::vector<torch::Tensor>* block_outputs) {
  const auto batch = features.size(0), seq_len = features.size(1);
  if (seq_len % options.num_registers != 0) {
    throw core::InvalidInput(
        fmt::format("embeddings connector: {} tokens is not a multiple of the {} learnable "
                    "registers; prompts are padded to a fixed length (1024) for this reason.",
                    seq_len, options.num_registers));
  }
  // Padding slot i takes register i % 128 (text_encoder.md §4.2); the mask is then dropped.
  const auto registers =
      learnable_registers.repeat({seq_len / options.num_registers, 1}).to(features.scalar_type());
  const auto m = valid.to(features.scalar_type()).view({batch, seq_len, 1});
  auto x = m * features + (1 - m) * registers.unsqueeze(0);
  const auto [cos, sin] = connector_rope(options, seq_len, features.scalar_type(), features.device());
  for (size_t i = 0; i < transformer_1d_blocks->size(); ++i) {
    x = transformer_1d_blocks->ptr<ConnectorBlockImpl>(i)->forward(x, cos, sin);
    if (block_outputs) block_outputs->push_back(x);
  }
  return rms_norm(x, options.norm_eps);
}

}  // namespace avtrain::models::text
