#pragma once
// The text path of a job (text_encoder.md §0, DECISIONS.md §3): every caption and prompt of the job
// is encoded once, up front. Cache hits are read from the PromptCache; for the rest the tokenizer,
// Gemma 3 and the embeddings processor are loaded, run in batches, and released before this returns,
// so that Gemma (~24 GB in bf16) is gone before the transformer is loaded.
//
//   PromptCache cache(job_dir / "prompts", text_path_fingerprint(gemma_dir, *checkpoint, torch::kBFloat16));
//   const auto contexts = encode_prompts({caption_a, caption_b, negative}, gemma_dir, checkpoint, cache,
//   {device});

#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "models/text/prompt_cache.h"
#include "models/text/tokenizer.h"

namespace avtrain::models::text {

struct PromptEncodingOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kBFloat16;  // the reference casts every text weight to bf16
  int64_t batch_size = 4;                      // prompts per Gemma forward
  int64_t max_length = kLtxMaxLength;          // tokens per prompt (1024 in LTX; a multiple of 128)
};

// Contexts of `prompts`, in order, on the CPU in options.dtype. `checkpoint` is the LTX checkpoint
// (its text projection and connectors and its config); `gemma_directory` holds config.json,
// tokenizer.json and the safetensors of a Gemma 3 model.
std::vector<PromptContext> encode_prompts(const std::vector<std::string>& prompts,
                                          const std::filesystem::path& gemma_directory,
                                          std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                          PromptCache& cache, const PromptEncodingOptions& options);

}  // namespace avtrain::models::text
