#include "models/text/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/json_text.h"
#include "core/utf8.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

// ---- UTF-8 -----------------------------------------------------------------------------------

using core::decode_utf8_at;
using core::utf8_length;

void require_utf8(std::string_view text) {
  if (const auto pos = core::invalid_utf8_at(text)) {
    throw core::InvalidInput(
        fmt::format("the prompt is not valid UTF-8: byte {} (0x{:02X}) starts no valid character. Send the "
                    "prompt as UTF-8 text.",
                    *pos, static_cast<uint8_t>(text[*pos])));
  }
}

bool is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// ---- tokenizer.json pieces -------------------------------------------------------------------

std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content) {
  if (pattern.empty()) return std::string(text);
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t found = text.find(pattern, pos);
    if (found == std::string_view::npos) break;
    out.append(text.substr(pos, found - pos));
    out.append(content);
    pos = found + pattern.size();
  }
  out.append(text.substr(pos));
  return out;
}

// A normalizer step; tokenizer.json "normalizer" (only the kinds Gemma-style files use).
struct NormalizerStep {
  enum class Kind { replace, prepend } kind = Kind::replace;
  std::string pattern, content;
};

// Leftmost-longest matching of whole added tokens (the Hugging Face AddedVocabulary's rule).
class TokenTrie {
 public:
  void insert(std::string_view text, int64_t id) {
    int node = 0;
    for (const char c : text) {
      auto& children = nodes_[node].children;
      const auto found = children.find(c);
      if (found != children.end()) {
        node = found->second;
      } else {
        const int next = static_cast<int>(nodes_.size());
        children.emplace(c, next);
        nodes_.emplace_back();
        node = next;
      }
    }
    nodes_[node].id = id;
  }
  bool empty() const { return nodes_.size() == 1; }
  // The longest token starting at text[pos]: {id, length}, or {-1, 0}.
  std::pair<int64_t, size_t> longest_at(std::string_view text, size_t pos) const {
    int node = 0;
    std::pair<int64_t, size_t> best{-1, 0};
    for (size_t i = pos; i < text.size(); ++i) {
      const auto& children = nodes_[node].children;
      const auto found = children.find(text[i]);
      if (found == children.end()) break;
      node = found->second;
      if (nodes_[node].id >= 0) best = {nodes_[node].id, i + 1 - pos};
    }
    return best;
  }

 private:
  struct Node {
    std::unordered_map<char, int> children;
    int64_t id = -1;
  };
  std::vector<Node> nodes_ = std::vector<Node>(1);
};

// A piece of the input: an added token (id >= 0) or text still to be tokenized.
struct Piece {
  std::string text;
  int64_t added_id = -1;
};

std::vector<Piece> split_added(const std::vector<Piece>& pieces, const TokenTrie& trie) {
  if (trie.empty()) return pieces;
  std::vector<Piece> out;
  for (const auto& piece : pieces) {
    if (piece.added_id >= 0) {
      out.push_back(piece);
      continue;
    }
    const std::string_view text = piece.text;
    size_t start = 0;
    for (size_t pos = 0; pos < text.size();) {
      const auto [id, length] = trie.longest_at(text, pos);
      if (id < 0) {
        ++pos;
        continue;
      }
      if (pos > start) out.push_back({std::string(text.substr(start, pos - start)), -1});
      out.push_back({std::string(text.substr(pos, length)), id});
      pos += length;
      start = pos;
    }
    if (start < text.size()) out.push_back({std::string(text.substr(start)), -1});
  }
  return out;
}

// tokenizer.json "pre_tokenizer" of type Split with a String pattern (Hugging Face's
// SplitDelimiterBehavior, same merging rules).
struct SplitStep {
  std::string pattern;
  std::string behavior;
};

std::vector<std::string> split_words(const std::string& text, const SplitStep& split) {
  // (text, is_match) in order; non-empty pieces only.
  std::vector<std::pair<std::string, bool>> segments;
  size_t pos = 0;
  while (!split.pattern.empty()) {
    const size_t found = text.find(split.pattern, pos);
    if (found == std::string::npos) break;
    if (found > pos) segments.emplace_back(text.substr(pos, found - pos), false);
    segments.emplace_back(split.pattern, true);
    pos = found + split.pattern.size();
  }
  if (pos < text.size()) segments.emplace_back(text.substr(pos), false);

  std::vector<std::string> words;
  const auto& behavior = split.behavior;
  if (behavior == "Removed") {
    for (const auto& [piece, is_match] : segments)
      if (!is_match) words.push_back(piece);
  } else if (behavior == "Isolated") {
    for (const auto& [piece, is_match] : segments) words.push_back(piece);
  } else if (behavior == "MergedWithPrevious" || behavior == "Contiguous") {
    bool previous_match = false;
    for (const auto& [piece, is_match] : segments) {
      const bool merge =
          behavior == "MergedWithPrevious" ? (is_match && !previous_match) : (is_match == previous_match);
      if (merge && !words.empty()) {
        words.back() += piece;
      } else {
        words.push_back(piece);
      }
      previous_match = is_match;
    }
  } else {  // MergedWithNext
    bool previous_match = false;
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
      const auto& [piece, is_match] = *it;
      if (is_match && !previous_match && !words.empty()) {
        words.back() = piece + words.back();
      } else {
        words.push_back(piece);
      }
      previous_match = is_match;
    }
    std::reverse(words.begin(), words.end());
  }
  return words;
}

uint64_t pair_key(int64_t left, int64_t right) {
  return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

// ---- the tokenizer ---------------------------------------------------------------------------

struct Tokenizer::Data {
  std::string source;
  std::vector<NormalizerStep> normalizer;
  std::optional<SplitStep> split;

  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<int64_t, std::string> id_to_token;
  struct Merge {
    int64_t rank;
    int64_t new_id;
  };
  std::unordered_map<uint64_t, Merge> merges;
  bool byte_fallback = false;
  bool fuse_unk = false;
  int64_t unk_id = -1;
  int64_t byte_ids[256];

  TokenTrie raw_added;         // added tokens with normalized = false: matched on the raw text
  TokenTrie normalized_added;  // normalized = true: matched on the normalized text
  std::vector<int64_t> prefix_ids, suffix_ids;  // post-processor template around the sequence
  int64_t pad_id = -1, bos_id = -1, max_id = -1;

  std::string normalize(std::string text) const {
    for (const auto& step : normalizer) {
      text = step.kind == NormalizerStep::Kind::replace ? replace_all(text, step.pattern, step.content)
                                                        : (text.empty() ? text : step.content + text);
    }
    return text;
  }

  // The BPE model on one word (Hugging Face BPE::merge_word + Word::merge_all).
  void encode_word(std::string_view word, std::vector<int64_t>& out) const {
    struct Symbol {
      int64_t id;
      int prev, next;
      bool removed;
    };
    std::vector<Symbol> symbols;
    std::optional<int64_t> pending_unk;
    const auto add = [&](int64_t id) {
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({id, index - 1, index + 1, false});
    };
    for (size_t pos = 0; pos < word.size();) {
      const size_t length = utf8_length(word, pos);
      const std::string character(word.substr(pos, length));
      pos += length;
      if (const auto found = vocab.find(character); found != vocab.end()) {
        if (pending_unk) add(*std::exchange(pending_unk, std::nullopt));
        add(found->second);
        continue;
      }
      if (byte_fallback) {
        bool all_bytes = true;
        for (const char c : character) all_bytes = all_bytes && byte_ids[static_cast<uint8_t>(c)] >= 0;
        if (all_bytes) {
          for (const char c : character) add(byte_ids[static_cast<uint8_t>(c)]);
          continue;
        }
      }
      if (unk_id < 0) {
        throw core::InvalidInput(
            fmt::format("{}: the character '{}' is not in the vocabulary and the model has no "
                        "unk_token or byte fallback; use a complete tokenizer.json.",
                        source, character));
      }
      if (pending_unk && !fuse_unk) add(*pending_unk);
      pending_unk = unk_id;
    }
    if (pending_unk) add(*pending_unk);
    if (symbols.empty()) return;
    symbols.back().next = -1;

    struct Candidate {
      int64_t rank;
      int pos;
      int64_t new_id;
      bool operator<(const Candidate& other) const {  // lowest rank first, then leftmost
        return rank != other.rank ? rank > other.rank : pos > other.pos;
      }
    };
    std::priority_queue<Candidate> queue;
    const auto consider = [&](int left) {
      const int right = symbols[left].next;
      if (right < 0) return;
      const auto found = merges.find(pair_key(symbols[left].id, symbols[right].id));
      if (found != merges.end()) queue.push({found->second.rank, left, found->second.new_id});
    };
    for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      auto& left = symbols[top.pos];
      if (left.removed || left.next < 0) continue;
      const int right_pos = left.next;
      const auto& right = symbols[right_pos];
      // Skip entries made stale by an earlier merge of either symbol.
      const auto found = merges.find(pair_key(left.id, right.id));
      if (found == merges.end() || found->second.new_id != top.new_id) continue;
      left.id = top.new_id;
      left.next = right.next;
      symbols[right_pos].removed = true;
      if (left.next >= 0) symbols[left.next].prev = top.pos;
      if (left.prev >= 0) consider(left.prev);
      consider(top.pos);
    }
    for (const auto& symbol : symbols)
      if (!symbol.removed) out.push_back(symbol.id);
  }

  std::vector<int64_t> encode_content(std::string_view text) const {
    std::vector<Piece> pieces = split_added({{std::string(text), -1}}, raw_added);
    std::vector<int64_t> ids;
    for (auto& piece : pieces) {
      if (piece.added_id >= 0) {
        ids.push_back(piece.added_id);
        continue;
      }
      for (const auto& normalized : split_added({{normalize(piece.text), -1}}, normalized_added)) {
        if (normalized.added_id >= 0) {
          ids.push_back(normalized.added_id);
          continue;
        }
        if (!split) {
          encode_word(normalized.text, ids);
        } else {
          for (const auto& word : split_words(normalized.text, *split)) encode_word(word, ids);
        }
      }
    }
    return ids;
  }
};

namespace {

[[noreturn]] void unsupported(const std::string& source, const std::string& field, const std::string& found) {
  throw core::InvalidInput(
      fmt::format("{}: {} is {}, which avtrain's tokenizer does not implement (it reads Gemma-style "
                  "BPE tokenizer.json files). Use the tokenizer.json of a Gemma 3 directory.",
                  source, field, found));
}

// A token id as the file gives it: a whole number from 0 below 2^31 (Gemma's vocabulary has 262,144). A float
// (4.9e20) or a huge integer is refused here: converting it would be undefined, and vocab_size() is the
// largest id + 1.
int64_t token_id(const json& value, const std::string& source, const std::string& field) {
  constexpr int64_t kIdLimit = int64_t{1} << 31;
  if (value.is_number_unsigned() || value.is_number_integer()) {
    const bool in_range = value.is_number_unsigned()
                              ? value.get<uint64_t>() < static_cast<uint64_t>(kIdLimit)
                              : value.get<int64_t>() >= 0 && value.get<int64_t>() < kIdLimit;
    if (in_range) return value.get<int64_t>();
  }
  throw core::InvalidInput(
      fmt::format("{}: {} is {}, not a token id (a whole number from 0 to {}); the file is "
                  "damaged or not a tokenizer.json: re-download it.",
                  source, field, core::json_text(value), kIdLimit - 1));
}

std::vector<NormalizerStep> parse_normalizer(const json& node, const std::string& source) {
  std::vector<NormalizerStep> steps;
  if (node.is_null()) return steps;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const auto& child : node.at("normalizers")) {
      auto child_steps = parse_normalizer(child, source);
      steps.insert(steps.end(), child_steps.begin(), child_steps.end());
    }
  } else if (type == "Replace") {
    if (!node.at("pattern").contains("String"))
      unsupported(source, "normalizer Replace pattern", node.at("pattern").dump());
    steps.push_back({NormalizerStep::Kind::replace, node.at("pattern").at("String").get<std::string>(),
                     node.at("content").get<std::string>()});
  } else if (type == "Prepend") {
    steps.push_back({NormalizerStep::Kind::prepend, "", node.at("prepend").get<std::string>()});
  } else {
    unsupported(source, "normalizer type", "'" + type + "'");
  }
  return steps;
}

std::optional<SplitStep> parse_pre_tokenizer(const json& node, const std::string& source) {
  if (node.is_null()) return std::nullopt;
  const std::string type = node.value("type", "");
  if (type != "Split") unsupported(source, "pre_tokenizer type", "'" + type + "'");
  if (!node.at("pattern").contains("String"))
    unsupported(source, "pre_tokenizer Split pattern", node.at("pattern").dump());
  if (node.value("invert", false)) unsupported(source, "pre_tokenizer Split invert", "true");
  SplitStep split{node.at("pattern").at("String").get<std::string>(), node.at("behavior").get<std::string>()};
  static const std::vector<std::string> kBehaviors = {"Removed", "Isolated", "MergedWithPrevious",
                                                      "MergedWithNext", "Contiguous"};
  if (std::find(kBehaviors.begin(), kBehaviors.end(), split.behavior) == kBehaviors.end()) {
    unsupported(source, "pre_tokenizer Split behavior", "'" + split.behavior + "'");
  }
  return split;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Data> data) : data_(std::move(data)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw core::InvalidInput(
        fmt::format("{}: cannot open the tokenizer file; the Gemma directory must hold the Hugging "
                    "Face tokenizer.json.",
                    path.string()));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return from_json_text(buffer.str(), path.string());
}

Tokenizer Tokenizer::from_json_text(std::string_view json_text, std::string source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw core::InvalidInput(
        fmt::format("{}: not valid JSON ({}); re-download tokenizer.json.", source, e.what()));
  }
  auto data = std::make_unique<Data>();
  data->source = source;
  try {
    const auto& model = root.at("model");
    if (model.value("type", "") != "BPE")
      unsupported(source, "model.type", "'" + model.value("type", "") + "'");
    if (!model.value("dropout", json()).is_null())
      unsupported(source, "model.dropout", model.at("dropout").dump());
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model.at(key).is_null())
        unsupported(source, std::string("model.") + key, model.at(key).dump());
    }
    if (model.value("ignore_merges", false)) unsupported(source, "model.ignore_merges", "true");
    data->byte_fallback = model.value("byte_fallback", false);
    data->fuse_unk = model.value("fuse_unk", false);

    data->vocab.reserve(model.at("vocab").size());
    for (const auto& [token, value] : model.at("vocab").items()) {
      const int64_t id = token_id(value, source, "model.vocab[\"" + token + "\"]");
      data->vocab.emplace(token, id);
      data->id_to_token.emplace(id, token);
      data->max_id = std::max(data->max_id, id);
    }
    if (model.contains("unk_token") && model.at("unk_token").is_string()) {
      const auto found = data->vocab.find(model.at("unk_token").get<std::string>());
      if (found != data->vocab.end()) data->unk_id = found->second;
    }
    for (int byte = 0; byte < 256; ++byte) {
      const auto found = data->vocab.find(fmt::format("<0x{:02X}>", byte));
      data->byte_ids[byte] = found == data->vocab.end() ? -1 : found->second;
    }

    const auto& merges = model.at("merges");
    data->merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      std::string left, right;
      if (merges[rank].is_array()) {
        left = merges[rank].at(0).get<std::string>();
        right = merges[rank].at(1).get<std::string>();
      } else {  // the older "left right" spelling
        const auto text = merges[rank].get<std::string>();
        const size_t space = text.find(' ');
        if (space == std::string::npos)
          unsupported(source, fmt::format("model.merges[{}]", rank), "'" + text + "'");
        left = text.substr(0, space);
        right = text.substr(space + 1);
      }
      const auto left_id = data->vocab.find(left), right_id = data->vocab.find(right),
                 merged_id = data->vocab.find(left + right);
      if (left_id == data->vocab.end() || right_id == data->vocab.end() || merged_id == data->vocab.end()) {
        throw core::InvalidInput(
            fmt::format("{}: model.merges[{}] ('{}' + '{}') uses a piece missing from model.vocab; "
                        "the file is inconsistent, re-download it.",
                        source, rank, left, right));
      }
      data->merges[pair_key(left_id->second, right_id->second)] = {static_cast<int64_t>(rank),
                                                                   merged_id->second};
    }

    data->normalizer = parse_normalizer(root.value("normalizer", json()), source);
    data->split = parse_pre_tokenizer(root.value("pre_tokenizer", json()), source);

    std::map<std::string, int64_t> added;
    for (const auto& token : root.value("added_tokens", json::array())) {
      const auto content = token.at("content").get<std::string>();
      const auto id = token_id(token.at("id"), source, "the id of added token '" + content + "'");
      for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
        if (token.value(flag, false))
          unsupported(source, fmt::format("added token '{}' {}", content, flag), "true");
      }
      if (token.value("normalized", false)) {
        data->normalized_added.insert(data->normalize(content), id);
      } else {
        data->raw_added.insert(content, id);
      }
      added[content] = id;
      data->id_to_token.emplace(id, content);
      data->max_id = std::max(data->max_id, id);
    }
    const auto lookup = [&](const std::string& token) -> int64_t {
      if (const auto found = added.find(token); found != added.end()) return found->second;
      if (const auto found = data->vocab.find(token); found != data->vocab.end()) return found->second;
      return -1;
    };

    const auto& post = root.value("post_processor", json());
    if (!post.is_null()) {
      if (post.value("type", "") != "TemplateProcessing") {
        unsupported(source, "post_processor type", "'" + post.value("type", "") + "'");
      }
      bool after_sequence = false;
      for (const auto& item : post.at("single")) {
        if (item.contains("Sequence")) {
          after_sequence = true;
          continue;
        }
        const auto name = item.at("SpecialToken").at("id").get<std::string>();
        const auto& ids = post.at("special_tokens").at(name).at("ids");
        for (const auto& id : ids) {
          (after_sequence ? data->suffix_ids : data->prefix_ids)
              .push_back(token_id(id, source, "post_processor special token '" + name + "' id"));
        }
      }
    }
    data->bos_id = lookup("<bos>");
    data->pad_id = lookup("<pad>");
    if (data->pad_id < 0) data->pad_id = lookup("<eos>");  // LTX pads with EOS when there is no pad token
    if (data->pad_id < 0) {
      throw core::InvalidInput(
          fmt::format("{}: the tokenizer has neither a <pad> nor an <eos> token to pad prompts "
                      "with; use the tokenizer.json of a Gemma 3 directory.",
                      source));
    }
  } catch (const json::exception& e) {
    throw core::InvalidInput(
        fmt::format("{}: unexpected tokenizer.json layout ({}); use the Hugging Face "
                    "tokenizer.json of a Gemma 3 directory.",
                    source, e.what()));
  }
  return Tokenizer(std::move(data));
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, int64_t max_length) const {
  require_utf8(text);
  auto ids = data_->encode_content(text);
  // Truncation (longest_first, right) keeps room for the template's special tokens.
  const auto special = static_cast<int64_t>(data_->prefix_ids.size() + data_->suffix_ids.size());
  const int64_t keep = std::max<int64_t>(max_length - special, 0);
  if (static_cast<int64_t>(ids.size()) > keep) ids.resize(keep);
  std::vector<int64_t> out = data_->prefix_ids;
  out.insert(out.end(), ids.begin(), ids.end());
  out.insert(out.end(), data_->suffix_ids.begin(), data_->suffix_ids.end());
  return out;
}

std::vector<int64_t> Tokenizer::encode_prompt(std::string_view prompt, int64_t max_length) const {
  require_utf8(prompt);
  auto ids = encode(python_strip(prompt), max_length);
  // LTXGemmaTokenizer's guard (text_encoder.md §1 step 3): never fires for Gemma 3's template.
  if (data_->bos_id >= 0 && (ids.empty() || ids.front() != data_->bos_id)) {
    ids.insert(ids.begin(), data_->bos_id);
    if (static_cast<int64_t>(ids.size()) > max_length) ids.resize(max_length);
  }
  return ids;
}

int64_t Tokenizer::pad_id() const { return data_->pad_id; }
int64_t Tokenizer::bos_id() const { return data_->bos_id; }
int64_t Tokenizer::vocab_size() const { return data_->max_id + 1; }

std::string Tokenizer::token(int64_t id) const {
  const auto found = data_->id_to_token.find(id);
  return found == data_->id_to_token.end() ? std::string() : found->second;
}

std::string python_strip(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t length = utf8_length(text, begin);
    if (length == 0 || !is_python_space(decode_utf8_at(text, begin, length))) break;
    begin += length;
  }
  size_t end = text.size();
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    const size_t length = utf8_length(text, start);
    if (length != end - start || !is_python_space(decode_utf8_at(text, start, length))) break;
    end = start;
  }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace avtrain::models::text
