#pragma once
// The Gemma tokenizer, read from a Hugging Face `tokenizer.json` by our own implementation
// (DECISIONS.md §6; text_encoder.md §1): added tokens matched whole on the raw text (leftmost,
// longest first), the normalizer (Gemma: Replace " " -> U+2581), the pre-tokenizer (Gemma: a Split
// on " " that finds nothing once the normalizer ran), a BPE model with ranked merges and byte
// fallback, and the post-processor template (Gemma: "<bos> $A").
//
//   const auto tokenizer = Tokenizer::from_file(gemma_dir / "tokenizer.json");
//   const auto ids = tokenizer.encode_prompt(prompt);   // <bos> first, at most 1024 ids
//   const auto batch = encode_ltx_batch(tokenizer, {prompt, negative_prompt});  // token_batch.h
//
// Torch-free (a batch's tensors are token_batch.h's), so that the parser is fuzzed on its own.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace avtrain::models::text {

// Python's str.strip(): removes leading and trailing characters for which str.isspace() is true
// (ASCII whitespace, U+001C..U+001F, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
// U+202F, U+205F, U+3000); U+200B and U+FEFF stay (text_encoder.md §1 step 1).
std::string python_strip(std::string_view text);

// LTX's tokenizer settings (text_encoder.md §1, DECISIONS.md §6).
constexpr int64_t kLtxMaxLength = 1024;

class Tokenizer {
 public:
  // Parses `path` (a few seconds for Gemma's 33 MB file: parse it once and share the object).
  // Throws core::InvalidInput naming the file and the unsupported or malformed field.
  static Tokenizer from_file(const std::filesystem::path& path);
  // `source` names the JSON in messages.
  static Tokenizer from_json_text(std::string_view json_text, std::string source);

  // Ids of `text` as the Hugging Face tokenizer gives them with special tokens on, truncated to
  // `max_length` ids in all (the template's special tokens included; content cut from the end).
  // No stripping: see encode_prompt. Throws core::InvalidInput when `text` is not valid UTF-8.
  std::vector<int64_t> encode(std::string_view text, int64_t max_length = kLtxMaxLength) const;
  // LTXGemmaTokenizer's encode: python_strip, encode, <bos> first, at most `max_length` ids.
  std::vector<int64_t> encode_prompt(std::string_view prompt, int64_t max_length = kLtxMaxLength) const;
  int64_t pad_id() const;
  int64_t bos_id() const;
  int64_t vocab_size() const;  // model vocabulary plus added tokens beyond it (largest id + 1)
  // The piece of `id` ("" when unknown): for messages and tests.
  std::string token(int64_t id) const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  struct Data;
  explicit Tokenizer(std::unique_ptr<Data> data);
  std::unique_ptr<Data> data_;
};

}  // namespace avtrain::models::text
