#pragma once
// The built-in tiny model (issue 12): an LTX-2.3-layout single-file checkpoint with every component
// (transformer, text projection and connectors, video VAE, audio VAE, vocoder) under the real key
// names, seeded random weights, and the config metadata of golden/README.md's "Tiny config" with the
// text sizes matched to the tiny Gemma 3 directory written beside it (models/text/tiny_text.h). The
// job pipeline uses it as `--model tiny --text-encoder tiny`; the CPU demo trains it in minutes.
//
//   const auto dir = ensure_tiny_model();             // generated on first use, reused after
//   const auto set = core::SafetensorsSet::open(dir / kTinyCheckpointName);
//   auto gemma = text::load_gemma_text_encoder(dir / kTinyGemmaDirName, torch::kFloat32);

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/tensor_io.h"

namespace avtrain::models {

inline constexpr const char* kTinyCheckpointName = "ltx-2.3-tiny.safetensors";
inline constexpr const char* kTinyGemmaDirName = "gemma-3-tiny";
inline constexpr const char* kTinyModelVersion = "2.3.0";

// The checkpoint config (sections transformer, vae, scheduler, audio_vae, vocoder): the golden files'
// tiny LTX-2.3 config, with transformer.caption_channels set to the tiny Gemma's hidden size (the
// feature extractor's input width; the DiT context widths already equal the connector widths).
nlohmann::json tiny_ltx_config();

// Every tensor of the tiny checkpoint, sorted by key, in `dtype` (bf16 like the release). Weights are
// WeightSource::random draws (deterministic in seed and key); the vocoder's anti-alias filters and
// STFT/mel bases hold the values ltx-core computes, since random filters would not be filters.
core::NamedTensors tiny_ltx_checkpoint_tensors(uint64_t seed, torch::ScalarType dtype = torch::kBFloat16);

// Writes the tiny checkpoint to `path` (atomically) with metadata {config: JSON, model_version}.
void write_tiny_ltx_checkpoint(const std::filesystem::path& path, uint64_t seed = 0);

// Writes `directory`/ltx-2.3-tiny.safetensors and `directory`/gemma-3-tiny/ (created when absent;
// earlier ones replaced). Both are built in a temporary folder inside `directory` and moved into
// place at the end, the checkpoint last, so a killed run never leaves a half-written model.
// Same seed, byte-identical files.
void write_tiny_model(const std::filesystem::path& directory, uint64_t seed = 0);

// $AVTRAIN_CACHE_DIR, else $XDG_CACHE_HOME/avtrain, else ~/.cache/avtrain (HOME unset: the system's
// temporary folder /avtrain).
std::filesystem::path default_cache_dir();

// The folder holding the tiny model (seed 0) inside `cache_dir`: generated on first use, reused
// after. Safe against concurrent callers (each stages its own copy; the first rename wins).
std::filesystem::path ensure_tiny_model(const std::filesystem::path& cache_dir = default_cache_dir());

}  // namespace avtrain::models
