#pragma once
// LoRA adapters on the models' Linear layers (trainer.md §3, transformer.md §7, DECISIONS.md §22, §26).
//
// Injection matches target names as PEFT does: a module is targeted when its full dotted path equals
// a target or ends with "." + target, so "to_k" hits all six attention kinds and "attn1.to_k" only
// video self-attention. Adapters are float32 masters (A Kaiming-uniform, B zero) over frozen weights.
// The exported file folds alpha/rank into B, as the ecosystem's fuse applies no alpha.

#include <torch/nn/module.h>
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "models/layers/linear.h"

namespace avtrain::train {

struct LoraOptions {
  int64_t rank = 32;
  double alpha = 32;  // the service sets alpha = rank (scale 1)
  std::vector<std::string> targets = {"to_q", "to_k", "to_v", "to_out.0"};
  uint64_t seed = 42;  // draws A
};

// True when `path` is selected by `target` (PEFT's rule above).
bool lora_target_matches(const std::string& path, const std::string& target);

struct LoraAdapter {
  std::string path;  // module path inside the model, e.g. "transformer_blocks.0.attn1.to_out.0"
  models::Linear linear;
};

class LoraSet {
 public:
  // Attaches adapters to every Linear of `model` that a target selects. Throws core::InvalidInput
  // when a target selects nothing (a typo would otherwise train nothing).
  static LoraSet inject(torch::nn::Module& model, const LoraOptions& options);

  const std::vector<LoraAdapter>& adapters() const { return adapters_; }
  const LoraOptions& options() const { return options_; }
  double scale() const { return options_.alpha / static_cast<double>(options_.rank); }
  // The trainable tensors (A then B of each adapter, in path order).
  std::vector<torch::Tensor> parameters() const;

  // The file's tensors: "diffusion_model.<path>.lora_A.weight" [r, in] and ".lora_B.weight" [out, r]
  // with alpha/rank folded into B, in `dtype` (bf16 for the delivered file).
  std::vector<std::pair<std::string, torch::Tensor>> export_tensors(torch::ScalarType dtype = torch::kBFloat16) const;
  void save(const std::filesystem::path& path, const core::Metadata& metadata,
            torch::ScalarType dtype = torch::kBFloat16) const;
  // Loads a file written by save() (or any ecosystem LoRA with the same key set): A and B as stored,
  // B divided by the scale again so that training continues from the same function. Throws
  // core::InvalidInput naming missing or unexpected keys and wrong shapes.
  void load(const std::filesystem::path& path);

  // Removes the adapters from their layers (weights untouched).
  void detach();

 private:
  LoraOptions options_;
  std::vector<LoraAdapter> adapters_;
};

// Adds strength * (B @ A) of a LoRA file to the matching Linear weights of `model` (for sampling;
// as ltx-core's fuse: no alpha). Keys must be "diffusion_model.<path>.lora_{A,B}.weight"; returns
// the number of layers changed; throws core::InvalidInput when a key names no Linear of the model.
int fuse_lora_file(torch::nn::Module& model, const std::filesystem::path& path, double strength);

}  // namespace avtrain::train
