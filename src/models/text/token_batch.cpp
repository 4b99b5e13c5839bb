#include "models/text/token_batch.h"

#include <torch/torch.h>

namespace avtrain::models::text {

TokenBatch encode_ltx_batch(const Tokenizer& tokenizer, const std::vector<std::string>& prompts,
                            int64_t max_length) {
  const auto count = static_cast<int64_t>(prompts.size());
  TokenBatch batch{torch::full({count, max_length}, tokenizer.pad_id(), torch::kInt64),
                   torch::zeros({count, max_length}, torch::kInt64)};
  auto ids = batch.input_ids.accessor<int64_t, 2>();
  auto mask = batch.attention_mask.accessor<int64_t, 2>();
  for (int64_t row = 0; row < count; ++row) {
    const auto tokens = tokenizer.encode_prompt(prompts[row], max_length);
    const auto offset = max_length - static_cast<int64_t>(tokens.size());  // left padding
    for (size_t i = 0; i < tokens.size(); ++i) {
      ids[row][offset + static_cast<int64_t>(i)] = tokens[i];
      mask[row][offset + static_cast<int64_t>(i)] = 1;
    }
  }
  return batch;
}

}  // namespace avtrain::models::text
