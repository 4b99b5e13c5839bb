#include "models/checkpoint.h"

#include <fmt/format.h>

#include "core/error.h"
#include "models/tiny.h"

namespace avtrain::models {

namespace fs = std::filesystem;

nlohmann::json checkpoint_config(const core::Metadata& metadata, const std::string& source) {
  const auto found = metadata.find("config");
  if (found == metadata.end()) {
    throw core::InvalidInput(fmt::format(
        "{}: the safetensors header has no __metadata__ 'config'; LTX checkpoints carry their model config "
        "there. Use the released single-file LTX-2.3 checkpoint (or 'tiny').",
        source));
  }
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(found->second);
  } catch (const nlohmann::json::exception& e) {
    throw core::InvalidInput(fmt::format("{}: __metadata__ 'config' is not valid JSON ({}).", source, e.what()));
  }
  if (!config.is_object()) {
    throw core::InvalidInput(fmt::format("{}: __metadata__ 'config' is JSON {} where an object with the sections "
                                         "transformer, vae, audio_vae and vocoder belongs.",
                                         source, config.type_name()));
  }
  return config;
}

nlohmann::json checkpoint_config(const core::SafetensorsSet& set) {
  return checkpoint_config(set.metadata(), set.description());
}

ModelFiles resolve_model_files(const std::string& checkpoint, const std::string& text_encoder,
                               const fs::path& cache_dir) {
  ModelFiles files;
  fs::path tiny;
  const auto tiny_dir = [&] {
    if (tiny.empty()) tiny = ensure_tiny_model(cache_dir);
    return tiny;
  };
  if (checkpoint == kTinyModelName) {
    files.checkpoint = tiny_dir() / kTinyCheckpointName;
  } else {
    files.checkpoint = checkpoint;
    if (!fs::is_regular_file(files.checkpoint)) {
      throw core::InvalidInput(fmt::format(
          "model: {} {}; give the path of the single-file LTX-2.3 checkpoint (.safetensors) or 'tiny'.",
          checkpoint, fs::exists(files.checkpoint) ? "is not a file" : "does not exist"));
    }
  }
  if (text_encoder == kTinyModelName) {
    files.text_encoder_dir = tiny_dir() / kTinyGemmaDirName;
  } else {
    files.text_encoder_dir = text_encoder;
    if (!fs::is_regular_file(files.text_encoder_dir / "config.json")) {
      throw core::InvalidInput(fmt::format(
          "text encoder: {} {}; give the Gemma 3 directory (config.json, tokenizer.json, *.safetensors) or "
          "'tiny'.",
          text_encoder,
          !fs::exists(files.text_encoder_dir)       ? "does not exist"
          : !fs::is_directory(files.text_encoder_dir) ? "is not a directory"
                                                      : "holds no config.json"));
    }
  }
  return files;
}

ModelFiles resolve_model_files(const std::string& checkpoint, const std::string& text_encoder) {
  return resolve_model_files(checkpoint, text_encoder, default_cache_dir());
}

}  // namespace avtrain::models
