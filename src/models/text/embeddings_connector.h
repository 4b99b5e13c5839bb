#pragma once
// The LTX embeddings connector (text_encoder.md §4): padding replaced by learnable registers (by
// absolute slot, i % 128), then pre-norm 1-D transformer blocks with split RoPE over positions
// 0..T-1 (no mask: every position attends to every other), optional per-head gated attention, and
// a parameter-free final RMS norm. Keys under "model.diffusion_model.{video,audio}_embeddings_connector.".

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <utility>
#include <vector>

#include "models/layers/linear.h"
#include "models/layers/weight_source.h"

namespace avtrain::models::text {

// From config.transformer (text_encoder.md §4.6); filled by EmbeddingsProcessorConfig.
struct ConnectorOptions {
  int64_t heads = 0, head_dim = 0, num_layers = 0;
  bool gated = false;           // connector_apply_gated_attention
  bool ff_bias = true;          // connector_ff_bias
  double theta = 1e4;           // RoPE base of the frequency grid
  int64_t max_pos = 1;          // connector_positional_embedding_max_pos[0]
  bool float64_grid = false;    // frequencies_precision == "float64"
  int64_t num_registers = 128;  // ltx-core always builds 128, whatever the config says
  double norm_eps = 1e-6;
  int64_t inner_dim() const { return heads * head_dim; }
};

// cos and sin [1, H, T, head_dim/2] in `dtype` (text_encoder.md §4.3): grid w[f] = theta^(f/(F-1)) * pi/2
// (float64, or float32 without float64_grid) cast to float32; angle = w[f] * (2 * p / max_pos - 1) in
// float32; head h takes frequencies h*(head_dim/2) .. (h+1)*(head_dim/2) - 1.
std::pair<torch::Tensor, torch::Tensor> connector_rope(const ConnectorOptions& options, int64_t seq_len,
                                                       torch::ScalarType dtype, torch::Device device);

// q_norm / k_norm: x * rsqrt(mean(x^2) + eps) * w over the whole inner dim (all heads), in float32,
// rounded once (torch.nn.RMSNorm). Key "<name>.weight" [dim].
class ConnectorRmsNormImpl : public torch::nn::Module {
 public:
  ConnectorRmsNormImpl(const WeightSource& weights, int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(ConnectorRmsNorm);

class ConnectorAttentionImpl : public torch::nn::Module {
 public:
  ConnectorAttentionImpl(const WeightSource& weights, const ConnectorOptions& options);
  // x [B,T,D] (the normed block input); cos/sin from connector_rope -> [B,T,D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

  const ConnectorOptions options;
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, to_gate_logits{nullptr} /* gated only */;
  Linear to_out_0{nullptr};  // checkpoint key "to_out.0"
  ConnectorRmsNorm q_norm{nullptr}, k_norm{nullptr};
};
TORCH_MODULE(ConnectorAttention);

// net.2(gelu_tanh(net.0.proj(x))): D -> 4D -> D.
class ConnectorFeedForwardImpl : public torch::nn::Module {
 public:
  ConnectorFeedForwardImpl(const WeightSource& weights, int64_t dim, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  Linear net_0_proj{nullptr}, net_2{nullptr};  // checkpoint keys "net.0.proj", "net.2"
};
TORCH_MODULE(ConnectorFeedForward);

class ConnectorBlockImpl : public torch::nn::Module {
 public:
  ConnectorBlockImpl(const WeightSource& weights, const ConnectorOptions& options);
  // x + attn1(rms_norm(x)), then + ff(rms_norm(.)); [B,T,D] -> [B,T,D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  ConnectorAttention attn1{nullptr};
  ConnectorFeedForward ff{nullptr};
  double norm_eps;
};
TORCH_MODULE(ConnectorBlock);

class EmbeddingsConnectorImpl : public torch::nn::Module {
 public:
  EmbeddingsConnectorImpl(const WeightSource& weights, const ConnectorOptions& options);
  // features [B,T,D] already reordered so that valid tokens come first; valid [B,T] bool in that
  // order. T must be a multiple of the register count. Returns [B,T,D]; when `block_outputs` is
  // given, each block's output is appended to it (for tests that localise differences).
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& valid,
                        std::vector<torch::Tensor>* block_outputs = nullptr);

  const ConnectorOptions options;
  torch::Tensor learnable_registers;  // [num_registers, D]
  torch::nn::ModuleList transformer_1d_blocks{nullptr};
};
TORCH_MODULE(EmbeddingsConnector);

}  // namespace avtrain::models::text
