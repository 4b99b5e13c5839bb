#include "models/text/prompt_cache.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/tensor_io.h"
#include "models/text/embeddings_processor.h"
#include "models/text/tokenizer.h"

namespace avtrain::models::text {
namespace {

// Two FNV-1a lanes with different offsets: 128 bits, enough against accidental collisions (and the
// stored prompt is compared on read anyway).
class Hasher {
 public:
  void add(std::string_view bytes) {
    for (const char c : bytes) {
      low_ = (low_ ^ static_cast<uint8_t>(c)) * 1099511628211ull;
      high_ = (high_ ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    }
    // A separator so that ("ab", "c") and ("a", "bc") differ.
    low_ = (low_ ^ 0xFFu) * 1099511628211ull;
    high_ = (high_ ^ 0xFEu) * 1099511628211ull;
  }
  std::string hex() const { return fmt::format("{:016x}{:016x}", high_, low_); }

 private:
  uint64_t low_ = 1469598103934665603ull;
  uint64_t high_ = 0x6c62272e07bb0142ull;
};

}  // namespace

PromptCache::PromptCache(std::filesystem::path directory, std::string fingerprint)
    : directory_(std::move(directory)), fingerprint_(std::move(fingerprint)) {}

std::string PromptCache::key(std::string_view prompt) const {
  Hasher hasher;
  hasher.add(fingerprint_);
  hasher.add(python_strip(prompt));
  return hasher.hex();
}

std::filesystem::path PromptCache::path(std::string_view prompt) const {
  return directory_ / (key(prompt) + ".safetensors");
}

std::optional<PromptContext> PromptCache::get(std::string_view prompt) const {
  const auto file_path = path(prompt);
  if (!std::filesystem::exists(file_path)) return std::nullopt;
  try {
    const auto file = core::SafetensorsFile::open(file_path);
    if (const auto why = file.damage()) throw core::InvalidInput(*why);
    const auto& metadata = file.metadata();
    const auto stored_prompt = metadata.find("prompt"), stored_fingerprint = metadata.find("fingerprint");
    if (stored_prompt == metadata.end() || stored_prompt->second != python_strip(prompt) ||
        stored_fingerprint == metadata.end() || stored_fingerprint->second != fingerprint_) {
      return std::nullopt;
    }
    return PromptContext{core::read_tensor(file, file.entry("video")).clone(),
                         core::read_tensor(file, file.entry("audio")).clone()};
  } catch (const core::Error& e) {
    // A damaged entry (an interrupted disk, a foreign file) is recomputed, not fatal.
    core::logger("models").warn("{}: unreadable prompt cache entry, recomputing it: {}", file_path.string(),
                                e.what());
    return std::nullopt;
  }
}

void PromptCache::put(std::string_view prompt, const PromptContext& context) const {
  std::filesystem::create_directories(directory_);
  core::write_tensors(path(prompt), {{"video", context.video}, {"audio", context.audio}},
                      {{"prompt", python_strip(prompt)}, {"fingerprint", fingerprint_}});
}

std::vector<PromptContext> PromptCache::get_or_compute(const std::vector<std::string>& prompts,
                                                       const Compute& compute) {
  std::map<std::string, PromptContext> known;  // by stripped prompt
  std::vector<std::string> missing;
  for (const auto& prompt : prompts) {
    const auto stripped = python_strip(prompt);
    if (known.count(stripped) || std::find(missing.begin(), missing.end(), stripped) != missing.end())
      continue;
    if (auto cached = get(stripped)) {
      known.emplace(stripped, std::move(*cached));
      ++hits_;
    } else {
      missing.push_back(stripped);
    }
  }
  if (!missing.empty()) {
    misses_ += static_cast<int64_t>(missing.size());
    auto computed = compute(missing);
    if (computed.size() != missing.size()) {
      throw core::InternalError(
          fmt::format("prompt cache: {} contexts computed for {} prompts", computed.size(), missing.size()));
    }
    for (size_t i = 0; i < missing.size(); ++i) {
      put(missing[i], computed[i]);
      known.emplace(missing[i], std::move(computed[i]));
    }
  }
  std::vector<PromptContext> contexts;
  contexts.reserve(prompts.size());
  for (const auto& prompt : prompts) contexts.push_back(known.at(python_strip(prompt)));
  return contexts;
}

std::string text_path_fingerprint(const std::filesystem::path& gemma_directory,
                                  const core::SafetensorsSet& checkpoint, torch::ScalarType dtype) {
  Hasher hasher;
  {
    std::ifstream in(gemma_directory / "tokenizer.json", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    hasher.add(bytes);
  }
  const auto gemma = core::SafetensorsSet::open_directory(gemma_directory);
  for (const auto& file : gemma.files()) {
    hasher.add(file.path().filename().string());
    hasher.add(std::to_string(std::filesystem::file_size(file.path())));
    for (const auto& entry : file.entries()) {
      hasher.add(fmt::format("{} {} {} {} {}", entry.name, core::dtype_name(entry.dtype),
                             fmt::join(entry.shape, ","), entry.begin, entry.nbytes));
    }
  }
  if (const auto config = checkpoint.metadata().find("config"); config != checkpoint.metadata().end()) {
    try {
      hasher.add(nlohmann::json::parse(config->second).value("transformer", nlohmann::json()).dump());
    } catch (const nlohmann::json::exception&) {
      hasher.add(config->second);
    }
  }
  for (const auto& name : checkpoint.names()) {
    if (name.rfind(kFeatureExtractorPrefix, 0) != 0 && name.rfind(kVideoConnectorPrefix, 0) != 0 &&
        name.rfind(kAudioConnectorPrefix, 0) != 0) {
      continue;
    }
    const auto located = checkpoint.at(name);
    const auto& entry = *located.entry;
    const auto bytes = located.file->bytes(entry);
    const size_t sample = std::min<size_t>(bytes.size(), 256);
    hasher.add(fmt::format("{} {} {}", name, core::dtype_name(entry.dtype), fmt::join(entry.shape, ",")));
    hasher.add({reinterpret_cast<const char*>(bytes.data()), sample});
    hasher.add({reinterpret_cast<const char*>(bytes.data() + bytes.size() - sample), sample});
  }
  hasher.add(c10::toString(dtype));
  return hasher.hex();
}

}  // namespace avtrain::models::text
