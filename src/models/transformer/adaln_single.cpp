#include "models/transformer/adaln_single.h"

#include <torch/torch.h>

#include <cmath>

namespace avtrain::models {

torch::Tensor timestep_sinusoid(const torch::Tensor& t) {
  constexpr int64_t half = kTimestepChannels / 2;
  // diffusers' get_timestep_embedding: exponent = -ln(max_period) * i / (half - shift), in float32.
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(t.device());
  const auto exponent = torch::arange(0, half, opts) * static_cast<float>(-std::log(10000.0)) / static_cast<float>(half);
  const auto angles = t.to(torch::kFloat32).unsqueeze(-1) * torch::exp(exponent);
  return torch::cat({torch::cos(angles), torch::sin(angles)}, -1);
}

TimestepEmbedderImpl::TimestepEmbedderImpl(const WeightSource& w, int64_t dim) {
  linear_1 = register_module("linear_1", Linear(w.at("linear_1"), kTimestepChannels, dim));
  linear_2 = register_module("linear_2", Linear(w.at("linear_2"), dim, dim));
}

torch::Tensor TimestepEmbedderImpl::forward(const torch::Tensor& sinusoid) {
  return linear_2(torch::silu(linear_1(sinusoid)));
}

TimestepEmbeddingsImpl::TimestepEmbeddingsImpl(const WeightSource& w, int64_t dim) {
  timestep_embedder = register_module("timestep_embedder", TimestepEmbedder(w.at("timestep_embedder"), dim));
}

AdaLnSingleImpl::AdaLnSingleImpl(const WeightSource& w, int64_t dim_, int64_t coefficient_)
    : dim(dim_), coefficient(coefficient_) {
  emb = register_module("emb", TimestepEmbeddings(w.at("emb"), dim));
  linear = register_module("linear", Linear(w.at("linear"), dim, coefficient * dim));
}

AdaLnRows AdaLnSingleImpl::distinct(const torch::Tensor& timestep, torch::ScalarType dtype) {
  const auto flat = timestep.to(torch::kFloat32).flatten();
  const auto [values, inverse] = at::_unique(flat, /*sorted=*/true, /*return_inverse=*/true);
  const auto e = timestep_sinusoid(values).to(dtype);  // rounded once before linear_1 (§12.1)
  const auto embedded = emb->timestep_embedder(e);
  return {linear(torch::silu(embedded)), embedded, inverse.view(timestep.sizes())};
}

torch::Tensor rows_per_token(const torch::Tensor& rows, const torch::Tensor& index) {
  auto shape = index.sizes().vec();
  shape.push_back(rows.size(-1));
  return rows.index_select(0, index.flatten()).view(shape);
}

AdaLnOutput AdaLnSingleImpl::forward(const torch::Tensor& timestep, torch::ScalarType dtype) {
  const auto rows = distinct(timestep, dtype);
  return {rows_per_token(rows.modulation, rows.index), rows_per_token(rows.embedded, rows.index)};
}

}  // namespace avtrain::models
