#include "train/flow_matching.h"

#include <torch/torch.h>

namespace avtrain::train {

torch::Tensor noisy_latent(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& sigma) {
  const auto s = sigma.view({-1, 1, 1});
  return (1 - s) * x0 + s * noise;
}

torch::Tensor velocity_target(const torch::Tensor& x0, const torch::Tensor& noise) { return noise - x0; }

torch::Tensor token_timesteps(const torch::Tensor& sigma, int64_t num_tokens) {
  return sigma.view({-1, 1}).expand({sigma.numel(), num_tokens}).clone();
}

torch::Tensor masked_mse(const torch::Tensor& pred, const torch::Tensor& target,
                         const torch::Tensor& loss_mask) {
  const auto target_len = target.size(1);
  TORCH_CHECK(pred.size(1) >= target_len && loss_mask.size(1) >= target_len, "masked_mse: prediction of ",
              pred.size(1), " tokens and mask of ", loss_mask.size(1), " tokens cannot hold ", target_len,
              " target tokens");
  const auto pred_target = pred.narrow(1, pred.size(1) - target_len, target_len);
  const auto mask =
      loss_mask.narrow(1, loss_mask.size(1) - target_len, target_len).unsqueeze(-1).to(torch::kFloat32);
  const auto masked_loss = (pred_target - target).pow(2) * mask;
  return masked_loss.mean({-2, -1}) / mask.mean({-2, -1}).clamp_min(1e-8);
}

}  // namespace avtrain::train
