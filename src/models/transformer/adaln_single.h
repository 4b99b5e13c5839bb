#pragma once
// Timestep conditioning (transformer.md §5): the 256-channel sinusoid and the PixArt-alpha style
// AdaLN-single module. Checkpoint keys: "<A>.emb.timestep_embedder.linear_{1,2}.*", "<A>.linear.*".

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "models/layers/linear.h"
#include "models/layers/weight_source.h"

namespace avtrain::models {

constexpr int64_t kTimestepChannels = 256;

// t (any shape, already multiplied by 1000) -> [..., 256] float32: cos half first (flip_sin_to_cos),
// f_i = exp(-ln(10000) i / 128) (§5.1). An fp32 island: the caller rounds to the compute dtype.
torch::Tensor timestep_sinusoid(const torch::Tensor& t);

// "timestep_embedder": Linear(256, D) -> SiLU -> Linear(D, D).
class TimestepEmbedderImpl : public torch::nn::Module {
 public:
  TimestepEmbedderImpl(const WeightSource& weights, int64_t dim);
  torch::Tensor forward(const torch::Tensor& sinusoid);
  Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedder);

// "emb": holds the timestep embedder (ltx-core's PixArtAlphaCombinedTimestepSizeEmbeddings).
class TimestepEmbeddingsImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingsImpl(const WeightSource& weights, int64_t dim);
  TimestepEmbedder timestep_embedder{nullptr};
};
TORCH_MODULE(TimestepEmbeddings);

struct AdaLnOutput {
  torch::Tensor modulation;  // [B, N, k*D], parameter p at [p*D, (p+1)*D)
  torch::Tensor embedded;    // [B, N, D], the "embedded timestep"
};

// The same per distinct timestep value: row index[b, n] is timestep[b, n]'s.
struct AdaLnRows {
  torch::Tensor modulation;  // [U, k*D]
  torch::Tensor embedded;    // [U, D]
  torch::Tensor index;       // [B, N] int64
};

// Distinct rows [U, C] -> [B, N, C] by index [B, N]: each token's row.
torch::Tensor rows_per_token(const torch::Tensor& rows, const torch::Tensor& index);

// AdaLN-single with width D and k parameters (§5.2).
class AdaLnSingleImpl : public torch::nn::Module {
 public:
  AdaLnSingleImpl(const WeightSource& weights, int64_t dim, int64_t coefficient);
  // timestep [B, N] float32 (already scaled) -> modulation and embedding in `dtype`. The MLP runs once
  // per distinct value and is gathered back (transformer.md §12.4: identical math, far less work when
  // most tokens share the step's sigma).
  AdaLnOutput forward(const torch::Tensor& timestep, torch::ScalarType dtype);
  // The rows before they are gathered per token.
  AdaLnRows distinct(const torch::Tensor& timestep, torch::ScalarType dtype);

  int64_t dim, coefficient;
  TimestepEmbeddings emb{nullptr};
  Linear linear{nullptr};
};
TORCH_MODULE(AdaLnSingle);

}  // namespace avtrain::models
