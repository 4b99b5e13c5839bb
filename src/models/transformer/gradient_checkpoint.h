#pragma once
// Activation checkpointing as one custom autograd Function (LibTorch C++ has no torch.utils.checkpoint):
// the forward runs without recording a graph; the backward runs it again with the graph and
// back-propagates through that (transformer.md §12.2: per-block checkpointing of the reference trainer).

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace avtrain::models {

// Which run of a checkpointed function this is. In the recompute its outputs only serve as roots of the
// backward: their values are never read, so work that only feeds those values may be left undone.
enum class CheckpointPass { forward, recompute };

using CheckpointedFunction =
    std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>& inputs, CheckpointPass pass)>;

// Runs `fn(inputs, forward)` keeping none of its activations, except, with `kept_attention_min_keys`, the
// outputs of its attention calls with at least that many keys and no mask (AttentionTape): the backward's
// recompute, `fn(inputs, recompute)`, then skips them.
// Gradients flow to every tensor of `inputs` that requires grad and to every tensor of `parameters` (leaves
// `fn` reads directly, e.g. LoRA adapters). `fn` must be deterministic and may read other tensors that need no
// gradient. All tensors must be defined; each output must be a new tensor (not one of `inputs`). One backward
// only: it releases what it kept.
std::vector<torch::Tensor> checkpoint(const CheckpointedFunction& fn, const std::vector<torch::Tensor>& inputs,
                                      const std::vector<torch::Tensor>& parameters,
                                      std::optional<int64_t> kept_attention_min_keys = std::nullopt);

}  // namespace avtrain::models
