#pragma once
// Where a module's tensors come from (STYLE.md §3): a checkpoint (memory-mapped, by key prefix), the
// meta device (full-size layouts without memory), or a seeded random draw (the built-in tiny model).
// Modules take each tensor by its checkpoint name and expected shape at construction; strictness
// (every missing key and shape mismatch listed at once, unused keys warned) lives here.
//
//   WeightSource w = WeightSource::from_checkpoint(set, "model.diffusion_model.", options);
//   TransformerModel model(w, config);   // modules call w.at("transformer_blocks").at("0")...take(...)
//   w.finish("transformer");            // throws listing all missing keys; warns on unused ones

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/safetensors.h"

namespace avtrain::models {

// How the random source draws a tensor (the checkpoint and meta sources ignore it).
enum class Init {
  automatic,  // rank >= 2: N(0, 1/fan_in) (fan_in = product of all dims but the first);
              // 1-D "*bias": N(0, 0.1); 1-D other: 1 + 0.1 N(0, 1); scalars: N(0, 0.3)
  normal,     // N(0, 0.3): tables and registers
  zeros,
  ones,
  positive,  // uniform in [0.5, 1.5]: statistics such as standard deviations
};

class WeightSource {
 public:
  // Tensors named `prefix + name` from `set`, converted to `options` (dtype and device) one at a time.
  static WeightSource from_checkpoint(std::shared_ptr<const core::SafetensorsSet> set, std::string prefix,
                                      torch::TensorOptions options);
  // Empty tensors on the meta device in `dtype`: shapes and key names without memory.
  static WeightSource meta(std::string prefix = "", torch::ScalarType dtype = torch::kBFloat16);
  // Seeded random tensors (see Init), deterministic in the seed and the key name.
  static WeightSource random(uint64_t seed, std::string prefix = "", torch::TensorOptions options = {});

  // The source for a child module: prefix + child + ".".
  WeightSource at(std::string_view child) const;
  // The tensor `prefix + name` of exactly `shape`. A missing key or wrong shape is recorded (finish()
  // reports them all) and an uninitialised tensor of the expected shape is returned meanwhile.
  torch::Tensor take(std::string_view name, std::vector<int64_t> shape, Init init = Init::automatic) const;
  // Like take, but absence is not an error: returns an undefined tensor (checkpoint source only;
  // meta and random sources always produce the tensor).
  torch::Tensor take_optional(std::string_view name, std::vector<int64_t> shape,
                              Init init = Init::automatic) const;
  bool has(std::string_view name) const;

  const std::string& prefix() const { return prefix_; }
  const torch::TensorOptions& options() const;
  bool is_meta() const;

  // Throws core::InvalidInput naming the file, every missing key and every shape mismatch (the first
  // 20, then a count); logs a warning listing keys under `prefix()` that no module took. `component`
  // names the part in messages ("transformer", "video VAE encoder"). Keys under `other_components`
  // (children of prefix(), e.g. "video_embeddings_connector.") belong to another component that
  // shares the prefix in the checkpoint and are not reported.
  void finish(std::string_view component, const std::vector<std::string>& other_components = {}) const;
  // Every key taken so far, with its shape, in the order taken.
  std::vector<std::pair<std::string, std::vector<int64_t>>> taken() const;

 private:
  struct State;
  WeightSource(std::shared_ptr<State> state, std::string prefix);
  std::shared_ptr<State> state_;
  std::string prefix_;
};

}  // namespace avtrain::models
