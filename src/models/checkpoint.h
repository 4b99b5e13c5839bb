#pragma once
// The unified LTX checkpoint as a whole: its metadata config read once, and the model files a job
// names ("tiny" selects the built-in tiny model, models/tiny.h).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/safetensors.h"

namespace avtrain::models {

// __metadata__["config"] parsed. Throws core::InvalidInput naming `source` when the key is absent,
// not JSON, or not a JSON object.
nlohmann::json checkpoint_config(const core::Metadata& metadata, const std::string& source);
nlohmann::json checkpoint_config(const core::SafetensorsSet& set);

// The two things a model is made of: the single-file LTX checkpoint and the Gemma 3 directory.
struct ModelFiles {
  std::filesystem::path checkpoint;        // ltx-2.3-*.safetensors
  std::filesystem::path text_encoder_dir;  // config.json, tokenizer.json, *.safetensors
};

inline constexpr const char* kTinyModelName = "tiny";

// `checkpoint` and `text_encoder` as a job names them: a path, or "tiny" for the built-in tiny model
// (generated into `cache_dir` on first use). Throws core::InvalidInput naming the option and the path
// when a path does not exist or has the wrong kind (a file for the checkpoint, a folder holding
// config.json for the text encoder).
ModelFiles resolve_model_files(const std::string& checkpoint, const std::string& text_encoder,
                               const std::filesystem::path& cache_dir);
ModelFiles resolve_model_files(const std::string& checkpoint, const std::string& text_encoder);

}  // namespace avtrain::models
