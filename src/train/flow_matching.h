#pragma once
// The rectified-flow training objective (specs/trainer.md §2.4, §2.7; DECISIONS.md §22): noisy input,
// velocity target, per-token timesteps and the per-modality masked MSE over target tokens.

#include <torch/types.h>

#include <cstdint>

namespace avtrain::train {

// x_t = (1 - sigma) x0 + sigma noise, sigma [B] broadcast per sample; x0, noise [B,N,C]. A bf16 x0
// is promoted to float32 by the float32 sigma, as in the reference.
torch::Tensor noisy_latent(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& sigma);

// The velocity target noise - x0 [B,N,C], in the inputs' dtype (bf16 for video, as the reference).
torch::Tensor velocity_target(const torch::Tensor& x0, const torch::Tensor& noise);

// [B, num_tokens] with sigma[b] on every token; conditioning tokens (reference) get 0 separately.
torch::Tensor token_timesteps(const torch::Tensor& sigma, int64_t num_tokens);

// Mean squared error per sample [B] over the target tokens: pred [B,N,C] may carry conditioning tokens
// before the N_t target tokens of `target` [B,N_t,C] (the trainer prepends the reference); only its
// last N_t tokens count. loss_mask [B,N] or [B,N_t] (true = counts; its last N_t entries are used):
// sum(mask (pred - target)^2) / (sum(mask) C), with the denominator floored as the reference does.
torch::Tensor masked_mse(const torch::Tensor& pred, const torch::Tensor& target,
                         const torch::Tensor& loss_mask);

}  // namespace avtrain::train
