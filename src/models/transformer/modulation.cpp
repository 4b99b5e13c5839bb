#include "models/transformer/modulation.h"

#include <torch/torch.h>

#include "models/layers/rms_norm.h"

namespace avtrain::models {

torch::Tensor table_rows(const torch::Tensor& table, const torch::Tensor& modulation) {
  return table + modulation.unflatten(-1, {table.size(0), table.size(1)});
}

torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& scale, const torch::Tensor& shift, double eps) {
  return torch::addcmul(shift, rms_norm(x, eps), 1 + scale);
}

torch::Tensor add_gated(const torch::Tensor& x, const torch::Tensor& update, const torch::Tensor& gate) {
  return torch::addcmul(x, update, gate);
}

}  // namespace avtrain::models
