#include "models/text/tiny_text.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/tensor_io.h"
#include "models/layers/weight_source.h"
#include "models/text/gemma_text_encoder.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

const std::string kSpace = "\u2581";  // Gemma's normalizer writes spaces as U+2581

// Text the tiny tokenizer learns its merges from: prompts of the kind the demo uses.
constexpr const char* kCorpus =
    "A cat walks slowly through the garden at sunset, the camera tracking it from behind. "
    "A young woman with long red hair walks through a sunlit forest while golden leaves drift down around "
    "her. "
    "The waves crash on the rocks and the wind blows through the tall grass. A man speaks to the camera in a "
    "quiet room, then turns to the window and smiles. Rain falls on the city street at night; cars pass with "
    "their lights on and the sound of traffic fills the air. A dog runs across the field and jumps over the "
    "fence. The music plays softly as the dancer moves across the stage in slow motion. Close-up of a hand "
    "writing in a notebook, the pen scratching on the paper. Birds sing in the trees as the sun rises over "
    "the "
    "mountains and the river flows through the valley.";

// Byte-pair merges over the corpus' words (each but the first starting with U+2581), most frequent
// pair first, ties broken by the pair's text so that the result is deterministic.
std::vector<std::pair<std::string, std::string>> learn_merges(size_t merge_count) {
  std::map<std::vector<std::string>, int64_t> words;
  {
    std::istringstream in(kCorpus);
    std::string word;
    bool first = true;
    while (in >> word) {
      std::vector<std::string> symbols;
      if (!first) symbols.push_back(kSpace);
      for (const char c : word) symbols.emplace_back(1, c);
      ++words[symbols];
      first = false;
    }
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (merges.size() < merge_count) {
    std::map<std::pair<std::string, std::string>, int64_t> counts;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i) counts[{symbols[i], symbols[i + 1]}] += count;
    }
    std::pair<std::string, std::string> best;
    int64_t best_count = 1;  // a pair must occur at least twice
    for (const auto& [pair, count] : counts) {
      if (count > best_count) {
        best = pair;
        best_count = count;
      }
    }
    if (best_count <= 1) break;
    merges.push_back(best);
    std::map<std::vector<std::string>, int64_t> merged;
    for (const auto& [symbols, count] : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == best.first && symbols[i + 1] == best.second) {
          out.push_back(best.first + best.second);
          ++i;
        } else {
          out.push_back(symbols[i]);
        }
      }
      merged[out] += count;
    }
    words = std::move(merged);
  }
  return merges;
}

}  // namespace

GemmaConfig tiny_gemma_config() {
  GemmaConfig config;
  config.vocab_size = kTinyGemmaVocabSize;
  config.hidden_size = 64;
  config.intermediate_size = 128;
  config.num_hidden_layers = 3;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.head_dim = 24;
  config.query_pre_attn_scalar = 48;
  config.rms_norm_eps = 1e-6;
  config.sliding_window = 4;
  config.sliding = {true, true, false};
  config.full_rope = {1e6, 8.0};
  config.sliding_rope = {1e4, 1.0};
  return config;
}

std::string tiny_tokenizer_json(int64_t vocab_size) {
  const std::vector<std::string> specials = {"<pad>",  "<eos>",           "<bos>",        "<unk>",
                                             "<mask>", "<start_of_turn>", "<end_of_turn>"};
  json vocab = json::object();
  json added = json::array();
  int64_t next = 0;
  for (const auto& special : specials) {
    added.push_back({{"id", next},
                     {"content", special},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", special != "<mask>"}});
    vocab[special] = next++;
  }
  for (int byte = 0; byte < 256; ++byte) vocab[fmt::format("<0x{:02X}>", byte)] = next++;
  std::vector<std::string> alphabet = {kSpace};
  for (char c = '!'; c <= '~'; ++c) alphabet.emplace_back(1, c);
  for (const auto& piece : alphabet) vocab[piece] = next++;
  if (vocab_size < next) {
    throw core::InvalidInput(
        fmt::format("tiny tokenizer: vocab_size {} is below the {} fixed pieces", vocab_size, next));
  }
  json merges = json::array();
  for (const auto& [left, right] : learn_merges(static_cast<size_t>(vocab_size - next))) {
    const auto merged = left + right;
    if (vocab.contains(merged)) continue;
    vocab[merged] = next++;
    merges.push_back({left, right});
  }
  const json root = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}},
      {"pre_tokenizer",
       {{"type", "Split"},
        {"pattern", {{"String", " "}}},
        {"behavior", "MergedWithPrevious"},
        {"invert", false}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", "<bos>"}, {"type_id", 1}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {2}}, {"tokens", {"<bos>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}}};
  return root.dump();
}

void write_tiny_gemma_directory(const std::filesystem::path& directory, uint64_t seed) {
  std::filesystem::create_directories(directory);
  const auto config = tiny_gemma_config();
  {
    std::ofstream out(directory / "config.json");
    out << config.to_json().dump(2) << "\n";
  }
  {
    std::ofstream out(directory / "tokenizer.json");
    out << tiny_tokenizer_json(config.vocab_size);
  }
  const std::string prefix = "language_model.model.";
  const auto weights = WeightSource::random(seed, prefix, torch::TensorOptions().dtype(torch::kFloat32));
  GemmaTextEncoder encoder(weights, config);
  core::NamedTensors tensors;
  for (const auto& parameter : encoder->named_parameters()) {
    tensors.emplace_back(prefix + parameter.key(), parameter.value().to(torch::kBFloat16));
  }
  core::write_tensors(directory / "model.safetensors", tensors, {{"format", "pt"}});
}

core::NamedTensors tiny_text_checkpoint_tensors(const EmbeddingsProcessorConfig& config, uint64_t seed,
                                                torch::ScalarType dtype) {
  const auto options = torch::TensorOptions().dtype(torch::kFloat32);
  EmbeddingsProcessor processor(WeightSource::random(seed, kFeatureExtractorPrefix, options),
                                WeightSource::random(seed, kVideoConnectorPrefix, options),
                                WeightSource::random(seed, kAudioConnectorPrefix, options), config);
  core::NamedTensors tensors;
  const auto add = [&](const char* prefix, const torch::nn::Module& module) {
    for (const auto& parameter : module.named_parameters()) {
      tensors.emplace_back(prefix + parameter.key(), parameter.value().to(dtype));
    }
  };
  add(kFeatureExtractorPrefix, *processor->feature_extractor);
  add(kVideoConnectorPrefix, *processor->video_connector);
  add(kAudioConnectorPrefix, *processor->audio_connector);
  return tensors;
}

}  // namespace avtrain::models::text
