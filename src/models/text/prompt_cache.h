#pragma once
// The per-job cache of prompt contexts (DECISIONS.md §3; text_encoder.md §7.1): the connector
// outputs of a prompt, computed once and stored as <key>.safetensors in a directory. The key hashes
// the stripped prompt with a fingerprint of everything that changes the result (tokenizer, Gemma
// weights, the LTX text projection and connectors, dtype); each file also records the prompt, so a
// hash collision reads as a miss, never as another prompt's context.
//
//   PromptCache cache(job_dir / "prompts", text_path_fingerprint(gemma_dir, *checkpoint, torch::kBFloat16));
//   const auto contexts = cache.get_or_compute(prompts, [&](const auto& missing) { return encode(missing);
//   });

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/safetensors.h"

namespace avtrain::models::text {

// One prompt's context, without the batch dimension: video [T,video_dim], audio [T,audio_dim], in
// connector order (text_encoder.md §6).
struct PromptContext {
  torch::Tensor video;
  torch::Tensor audio;
};

class PromptCache {
 public:
  // `directory` is created on first store.
  PromptCache(std::filesystem::path directory, std::string fingerprint);

  // 32 hex digits identifying (fingerprint, python_strip(prompt)).
  std::string key(std::string_view prompt) const;
  std::filesystem::path path(std::string_view prompt) const;
  // The stored context, or nothing when absent or written for another prompt or fingerprint.
  std::optional<PromptContext> get(std::string_view prompt) const;
  // Writes atomically (temporary file, rename).
  void put(std::string_view prompt, const PromptContext& context) const;

  // Contexts of `prompts` in order. Prompts that strip to the same text are computed once; the
  // missing ones go to `compute` in one call (which returns one context per prompt it is given, in
  // order), are stored, and are returned without being read back.
  using Compute = std::function<std::vector<PromptContext>(const std::vector<std::string>& missing)>;
  std::vector<PromptContext> get_or_compute(const std::vector<std::string>& prompts, const Compute& compute);

  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }

 private:
  std::filesystem::path directory_;
  std::string fingerprint_;
  int64_t hits_ = 0, misses_ = 0;
};

// Text identifying the models behind a context: the tokenizer file's bytes; every Gemma shard's
// name, size and header; the LTX checkpoint's text-path tensors (names, dtypes, shapes and the first
// and last bytes of each) with its config.transformer; and `dtype`. Cheap: reads no full weights.
std::string text_path_fingerprint(const std::filesystem::path& gemma_directory,
                                  const core::SafetensorsSet& checkpoint, torch::ScalarType dtype);

}  // namespace avtrain::models::text
