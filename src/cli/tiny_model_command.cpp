// avtrain tiny-model --out DIR [--seed N]: writes the built-in tiny model (models/tiny.h), the files
// `--model tiny --text-encoder tiny` uses, and says what it wrote.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/safetensors.h"
#include "models/tiny.h"

namespace avtrain::cli {
namespace {

namespace fs = std::filesystem;

// The component a checkpoint key belongs to, for the parameter counts.
std::string component_of(const std::string& key) {
  const auto starts = [&](const char* prefix) { return key.rfind(prefix, 0) == 0; };
  if (starts("text_embedding_projection.") || starts("model.diffusion_model.video_embeddings_connector.") ||
      starts("model.diffusion_model.audio_embeddings_connector.")) {
    return "text projection + connectors";
  }
  if (starts("model.diffusion_model.")) return "transformer";
  if (starts("vae.encoder.")) return "video VAE encoder";
  if (starts("vae.decoder.")) return "video VAE decoder";
  if (starts("vae.")) return "video latent statistics";
  if (starts("audio_vae.encoder.")) return "audio VAE encoder";
  if (starts("audio_vae.decoder.")) return "audio VAE decoder";
  if (starts("audio_vae.")) return "audio latent statistics";
  if (starts("vocoder.")) return "vocoder";
  return "other";
}

int write_tiny(const std::string& out, uint64_t seed) {
  const fs::path directory(out);
  models::write_tiny_model(directory, seed);

  const auto checkpoint = directory / models::kTinyCheckpointName;
  const auto set = core::SafetensorsSet::open_file(checkpoint);
  std::map<std::string, std::pair<int64_t, int64_t>> per_component;  // tensors, parameters
  int64_t total = 0;
  for (const auto& name : set.names()) {
    const auto numel = set.at(name).entry->numel();
    auto& [tensors, parameters] = per_component[component_of(name)];
    tensors += 1;
    parameters += numel;
    total += numel;
  }
  std::cout << fmt::format("{}  {} bytes, {} tensors, {} parameters (bf16, seed {})\n", checkpoint.string(),
                           fs::file_size(checkpoint), set.names().size(), total, seed);
  for (const auto& [component, counts] : per_component) {
    std::cout << fmt::format("  {:<30} {:>5} tensors {:>9} parameters\n", component, counts.first,
                             counts.second);
  }
  const auto gemma = directory / models::kTinyGemmaDirName;
  std::cout << fmt::format("{}/\n", gemma.string());
  for (const char* file : {"config.json", "tokenizer.json", "model.safetensors"}) {
    std::string detail;
    if (std::string(file) == "model.safetensors") {
      const auto weights = core::SafetensorsSet::open_file(gemma / file);
      int64_t parameters = 0;
      for (const auto& name : weights.names()) parameters += weights.at(name).entry->numel();
      detail = fmt::format(", {} tensors, {} parameters", weights.names().size(), parameters);
    }
    std::cout << fmt::format("  {:<30} {} bytes{}\n", file, fs::file_size(gemma / file), detail);
  }
  std::cout << fmt::format("use: --model {} --text-encoder {}\n", checkpoint.string(), gemma.string());
  return 0;
}

Action add_tiny_model(CLI::App& command) {
  auto out = std::make_shared<std::string>();
  auto seed = std::make_shared<uint64_t>(0);
  command.add_option("--out", *out, "folder to write ltx-2.3-tiny.safetensors and gemma-3-tiny/ into")
      ->required();
  command.add_option("--seed", *seed, "seed of the random weights (same seed, byte-identical files)")
      ->capture_default_str();
  return [out, seed] { return write_tiny(*out, *seed); };
}

const bool registered = register_command(
    {"tiny-model",
     "Write the built-in tiny model: a tiny LTX-2.3-layout checkpoint and a tiny Gemma 3 directory (random "
     "weights, for tests and the CPU demo)",
     add_tiny_model});

}  // namespace
}  // namespace avtrain::cli
