// The tokenizer (models/text/tokenizer.h): the first byte chooses between a tokenizer.json of any text
// and any prompt through the tiny model's tokenizer. Ids are within the vocabulary, at most max_length.
#include <fstream>
#include <memory>
#include <sstream>

#include "fuzz_support.h"
#include "models/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  using models::text::Tokenizer;
  static const auto tiny = [] {
    std::ifstream in(fuzz::data_file("tiny_tokenizer.json"));
    std::stringstream text;
    text << in.rdbuf();
    return std::make_unique<Tokenizer>(Tokenizer::from_json_text(text.str(), "tiny_tokenizer.json"));
  }();
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] & 1) {
      const auto tokenizer = Tokenizer::from_json_text(text, "fuzz.json");
      (void)tokenizer.encode_prompt("a red fox \xe2\x96\x81 jumps", 64);
    } else {
      const int64_t max_length = 1 + data[0] % 200;
      const auto ids = tiny->encode_prompt(text, max_length);
      if (static_cast<int64_t>(ids.size()) > max_length) std::abort();
      for (const auto id : ids) {
        if (id < 0 || id >= tiny->vocab_size()) std::abort();
      }
    }
  } catch (const core::Error& error) {
    fuzz::check_refusal(error);
  }
  return 0;
}
