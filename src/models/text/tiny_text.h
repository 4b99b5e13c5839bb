#pragma once
// The text path of the built-in tiny model (tests and the demo). A Gemma 3 directory: a config.json
// of google/gemma-3-12b-it's layout with tiny sizes (text_encoder.md §8.2: q width != hidden,
// query_pre_attn_scalar != head_dim, a sliding window shorter than short prompts), model.safetensors
// with seeded random weights under the real key names, and a tokenizer.json of Gemma's format whose
// merges our code learns from a small built-in corpus (DECISIONS.md §6). And the text parts of the
// tiny LTX checkpoint (text projection and connectors) for the tiny checkpoint writer.

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/tensor_io.h"
#include "models/text/embeddings_processor.h"
#include "models/text/gemma_config.h"

namespace avtrain::models::text {

constexpr int64_t kTinyGemmaVocabSize = 512;

// hidden 64, 3 layers (sliding, sliding, full), 4 query heads x 24, 2 KV heads,
// query_pre_attn_scalar 48, intermediate 128, vocab 512, window 4, RoPE 1e6 / 8 (global) and 1e4.
GemmaConfig tiny_gemma_config();

// A tokenizer.json with Gemma's normalizer, pre-tokenizer, post-processor, special tokens
// (<pad> 0, <eos> 1, <bos> 2, <unk> 3, <mask> 4, <start_of_turn> 5, <end_of_turn> 6), the 256 byte
// pieces, printable ASCII and U+2581, then BPE merges learned until `vocab_size` pieces exist.
std::string tiny_tokenizer_json(int64_t vocab_size = kTinyGemmaVocabSize);

// Writes config.json, model.safetensors (bf16, keys "language_model.model.*") and tokenizer.json
// into `directory` (created when absent). Deterministic in `seed`.
void write_tiny_gemma_directory(const std::filesystem::path& directory, uint64_t seed = 0);

// The LTX checkpoint's text tensors ("text_embedding_projection.*",
// "model.diffusion_model.{video,audio}_embeddings_connector.*") for `config`, seeded random, in
// `dtype`: what a tiny checkpoint writer adds beside the transformer, VAE and vocoder tensors.
core::NamedTensors tiny_text_checkpoint_tensors(const EmbeddingsProcessorConfig& config, uint64_t seed,
                                                torch::ScalarType dtype = torch::kBFloat16);

}  // namespace avtrain::models::text
