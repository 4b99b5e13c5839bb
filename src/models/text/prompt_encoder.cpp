#include "models/text/prompt_encoder.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>

#include "core/log.h"
#include "models/text/embeddings_processor.h"
#include "models/text/gemma_text_encoder.h"
#include "models/text/token_batch.h"

namespace avtrain::models::text {

std::vector<PromptContext> encode_prompts(const std::vector<std::string>& prompts,
                                          const std::filesystem::path& gemma_directory,
                                          std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                          PromptCache& cache, const PromptEncodingOptions& options) {
  auto& log = core::logger("models");
  return cache.get_or_compute(prompts, [&](const std::vector<std::string>& missing) {
    const auto start = std::chrono::steady_clock::now();
    const auto tensor_options = torch::TensorOptions().dtype(options.dtype).device(options.device);
    const auto tokenizer = Tokenizer::from_file(gemma_directory / "tokenizer.json");
    // Both models live only inside this scope: they are freed before the transformer is loaded.
    auto gemma = load_gemma_text_encoder(gemma_directory, tensor_options);
    auto processor = load_embeddings_processor(checkpoint, gemma->config.hidden_size,
                                               gemma->config.num_hidden_layers, tensor_options);
    torch::NoGradGuard no_grad;
    std::vector<PromptContext> contexts;
    contexts.reserve(missing.size());
    for (size_t begin = 0; begin < missing.size(); begin += static_cast<size_t>(options.batch_size)) {
      const auto end = std::min(missing.size(), begin + static_cast<size_t>(options.batch_size));
      const std::vector<std::string> batch_prompts(missing.begin() + begin, missing.begin() + end);
      const auto batch = encode_ltx_batch(tokenizer, batch_prompts, options.max_length);
      const auto mask = batch.attention_mask.to(options.device);
      auto hidden_states = gemma->forward(batch.input_ids.to(options.device), mask);
      const auto context = processor->forward(hidden_states, mask);
      hidden_states.clear();
      for (int64_t row = 0; row < static_cast<int64_t>(batch_prompts.size()); ++row) {
        contexts.push_back(
            {context.video[row].to(torch::kCPU).clone(), context.audio[row].to(torch::kCPU).clone()});
      }
      log.debug("text encoder: prompts {}..{} of {} encoded", begin + 1, end, missing.size());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log.info("text encoder: {} prompt(s) encoded in {:.1f} s ({} from the cache)", missing.size(), seconds,
             cache.hits());
    return contexts;
  });
}

}  // namespace avtrain::models::text
