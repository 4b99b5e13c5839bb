#include "models/text/prompt_cache.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/tensor_io.h"
#include "models/text/embeddings_processor.h"
#include "models/text/prompt_encoder.h"
#include "models/text/tiny_text.h"
#include "testing/temp_dir.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

PromptContext fake_context(float value) {
  return {torch::full({128, 8}, value, torch::kBFloat16), torch::full({128, 4}, value, torch::kBFloat16)};
}

TEST(PromptCache, ComputesEachDistinctStrippedPromptOnceAndReusesItAcrossInstances) {
  testing::TempDir dir;
  int calls = 0;
  std::vector<std::string> asked;
  const auto compute = [&](const std::vector<std::string>& missing) {
    ++calls;
    asked = missing;
    std::vector<PromptContext> out;
    for (const auto& prompt : missing) out.push_back(fake_context(static_cast<float>(prompt.size())));
    return out;
  };
  PromptCache cache(dir / "prompts", "fingerprint-a");
  const auto first = cache.get_or_compute({"a cat", "  a cat\n", "a dog!", "a cat"}, compute);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(asked, (std::vector<std::string>{"a cat", "a dog!"}));
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first[1].video[0][0].item<float>(), 5.0f);
  EXPECT_EQ(first[2].audio[0][0].item<float>(), 6.0f);

  PromptCache reopened(dir / "prompts", "fingerprint-a");
  const auto second = reopened.get_or_compute({"a dog!", "a cat"}, compute);
  EXPECT_EQ(calls, 1) << "everything should come from the files";
  EXPECT_EQ(reopened.hits(), 2);
  EXPECT_TRUE(torch::equal(second[0].video, first[2].video));
  EXPECT_EQ(second[0].video.scalar_type(), torch::kBFloat16);

  // Another model (fingerprint) never reads these entries.
  PromptCache other(dir / "prompts", "fingerprint-b");
  EXPECT_FALSE(other.get("a cat").has_value());
  EXPECT_NE(other.key("a cat"), cache.key("a cat"));
  EXPECT_EQ(cache.key(" a cat "), cache.key("a cat"));
}

TEST(PromptCache, AnEntryWrittenForAnotherPromptReadsAsAMiss) {
  testing::TempDir dir;
  PromptCache cache(dir / "prompts", "f");
  cache.put("first", fake_context(1));
  std::filesystem::copy_file(cache.path("first"), cache.path("second"));  // as a hash collision would
  EXPECT_TRUE(cache.get("first").has_value());
  EXPECT_FALSE(cache.get("second").has_value());
}

TEST(PromptCache, ADamagedEntryIsAMissToRecomputeNotAnError) {
  testing::TempDir dir;
  PromptCache cache(dir / "prompts", "f");
  cache.put("first", fake_context(1));
  cache.put("second", fake_context(2));
  std::ofstream(cache.path("first"), std::ios::binary | std::ios::trunc) << "not safetensors";  // cut short
  {
    auto bytes = std::string();  // one bit turned over in the data block: its checksum no longer matches
    std::ifstream in(cache.path("second"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
    bytes[bytes.size() - 3] = static_cast<char>(bytes[bytes.size() - 3] ^ 0x10);
    std::ofstream(cache.path("second"), std::ios::binary | std::ios::trunc) << bytes;
  }
  EXPECT_FALSE(cache.get("first").has_value());
  EXPECT_FALSE(cache.get("second").has_value());
  // get_or_compute computes both again and stores readable entries.
  int computed = 0;
  const auto contexts =
      cache.get_or_compute({"first", "second"}, [&](const std::vector<std::string>& prompts) {
        computed += static_cast<int>(prompts.size());
        std::vector<PromptContext> out;
        for (size_t index = 0; index < prompts.size(); ++index)
          out.push_back(fake_context(static_cast<int>(index)));
        return out;
      });
  EXPECT_EQ(computed, 2);
  EXPECT_EQ(contexts.size(), 2u);
  EXPECT_TRUE(cache.get("first").has_value());
  EXPECT_TRUE(cache.get("second").has_value());
}

// A tiny LTX checkpoint holding only the text parts, for a Gemma with `hidden` x `layers`.
void write_tiny_text_checkpoint(const std::filesystem::path& path, int64_t hidden, int64_t layers) {
  const json transformer = {{"num_attention_heads", 2},
                            {"attention_head_dim", 16},
                            {"audio_num_attention_heads", 2},
                            {"audio_attention_head_dim", 8},
                            {"connector_num_attention_heads", 2},
                            {"connector_attention_head_dim", 16},
                            {"audio_connector_num_attention_heads", 2},
                            {"audio_connector_attention_head_dim", 8},
                            {"connector_num_layers", 1},
                            {"connector_apply_gated_attention", true},
                            {"connector_positional_embedding_max_pos", {4096}},
                            {"frequencies_precision", "float64"},
                            {"rope_type", "split"},
                            {"caption_proj_before_connector", true},
                            {"caption_projection_first_linear", false},
                            {"caption_proj_input_norm", false},
                            {"caption_projection_second_linear", false}};
  const auto config = EmbeddingsProcessorConfig::from_transformer_config(transformer, hidden, layers, "tiny");
  const auto tensors = tiny_text_checkpoint_tensors(config, 11);
  core::write_tensors(path, tensors, {{"config", json{{"transformer", transformer}}.dump()}});
}

TEST(PromptEncoder, EncodesMissingPromptsWithTinyModelsStoresThemAndReusesTheCache) {
  testing::TempDir dir;
  write_tiny_gemma_directory(dir / "gemma", 3);
  const auto gemma_config = tiny_gemma_config();
  write_tiny_text_checkpoint(dir / "ltx.safetensors", gemma_config.hidden_size,
                             gemma_config.num_hidden_layers);
  auto checkpoint =
      std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(dir / "ltx.safetensors"));

  const auto fingerprint = text_path_fingerprint(dir / "gemma", *checkpoint, torch::kFloat32);
  EXPECT_EQ(fingerprint, text_path_fingerprint(dir / "gemma", *checkpoint, torch::kFloat32));
  EXPECT_NE(fingerprint, text_path_fingerprint(dir / "gemma", *checkpoint, torch::kBFloat16));

  PromptCache cache(dir / "prompts", fingerprint);
  PromptEncodingOptions options;
  options.dtype = torch::kFloat32;
  options.batch_size = 2;
  options.max_length = 128;
  const std::vector<std::string> prompts = {"A cat walks in the garden.", "",
                                            "Rain falls on the city at night."};
  const auto contexts = encode_prompts(prompts, dir / "gemma", checkpoint, cache, options);
  ASSERT_EQ(contexts.size(), 3u);
  for (const auto& context : contexts) {
    EXPECT_EQ(context.video.sizes(), (std::vector<int64_t>{128, 32}));
    EXPECT_EQ(context.audio.sizes(), (std::vector<int64_t>{128, 16}));
    EXPECT_TRUE(torch::isfinite(context.video).all().item<bool>());
  }
  EXPECT_FALSE(torch::allclose(contexts[0].video, contexts[2].video));
  EXPECT_EQ(cache.misses(), 3);

  // Batching does not change a prompt's context: alone it gives the same rows.
  PromptCache fresh(dir / "fresh", fingerprint);
  options.batch_size = 1;
  const auto alone = encode_prompts({prompts[2]}, dir / "gemma", checkpoint, fresh, options);
  EXPECT_TRUE(torch::allclose(alone[0].video, contexts[2].video, 1e-5, 1e-5));

  // A second job with the same models reads everything from the files (no model is loaded: the
  // Gemma directory may even be gone).
  std::filesystem::remove_all(dir / "gemma");
  PromptCache again(dir / "prompts", fingerprint);
  const auto cached = encode_prompts({prompts[2], prompts[0]}, dir / "gemma", checkpoint, again, options);
  EXPECT_EQ(again.hits(), 2);
  EXPECT_TRUE(torch::equal(cached[0].video, contexts[2].video));
}

}  // namespace
}  // namespace avtrain::models::text
