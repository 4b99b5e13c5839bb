#pragma once
// The tokenizer's ids as the tensors the Gemma text encoder takes (text_encoder.md §1): LTX's batch of
// prompts, each through Tokenizer::encode_prompt, padded on the left to one length.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/text/tokenizer.h"

namespace avtrain::models::text {

// Token ids and mask of a batch, each [N, max_length] int64, padded on the left with the pad id;
// mask 1 = token, 0 = padding.
struct TokenBatch {
  torch::Tensor input_ids;
  torch::Tensor attention_mask;
};

// Every prompt through encode_prompt, then padded on the left to exactly `max_length`.
TokenBatch encode_ltx_batch(const Tokenizer& tokenizer, const std::vector<std::string>& prompts,
                            int64_t max_length = kLtxMaxLength);

}  // namespace avtrain::models::text
