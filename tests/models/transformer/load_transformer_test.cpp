// load_transformer's strictness (DECISIONS.md §8): a checkpoint missing tensors is refused with every
// missing key in one error; a file without the prefix (transformer-only) loads as well.

#include "models/transformer/transformer_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "testing/golden.h"
#include "testing/temp_dir.h"

namespace avtrain::models {
namespace {

constexpr const char* kPrefix = "model.diffusion_model.";

// The golden tiny transformer's weights, minus `dropped` keys, with the prefix kept or stripped.
std::shared_ptr<core::SafetensorsSet> rewrite(const std::filesystem::path& golden, const std::filesystem::path& out,
                                              const std::vector<std::string>& dropped, bool keep_prefix) {
  const auto set = core::SafetensorsSet::open_file(golden);
  core::NamedTensors tensors;
  for (const auto& name : set.names()) {
    if (name.rfind(kPrefix, 0) != 0 || std::find(dropped.begin(), dropped.end(), name) != dropped.end()) continue;
    tensors.emplace_back(keep_prefix ? name : name.substr(std::string(kPrefix).size()), core::read_tensor(set, name));
  }
  core::write_tensors(out, tensors, {{"config", set.metadata().at("config")}});
  return std::make_shared<core::SafetensorsSet>(core::SafetensorsSet::open_file(out));
}

TEST(LoadTransformerGolden, ListsEveryMissingKeyInOneError) {
  AVTRAIN_REQUIRE_GOLDEN(path, "transformer_av_tiny.safetensors");
  const testing::TempDir dir;
  const std::vector<std::string> dropped = {std::string(kPrefix) + "transformer_blocks.1.attn1.to_out.0.weight",
                                            std::string(kPrefix) + "av_ca_v2a_gate_adaln_single.linear.bias"};
  const auto set = rewrite(path, dir / "partial.safetensors", dropped, /*keep_prefix=*/true);
  try {
    load_transformer(set, torch::TensorOptions().dtype(torch::kFloat32));
    FAIL() << "a checkpoint without two tensors loaded";
  } catch (const core::InvalidInput& e) {
    const std::string message = e.what();
    for (const auto& key : dropped) EXPECT_NE(message.find(key), std::string::npos) << message;
    EXPECT_NE(message.find("partial.safetensors"), std::string::npos) << message;
  }
}

TEST(LoadTransformerGolden, TransformerOnlyFilesWithoutPrefixLoadTheSameWeights) {
  AVTRAIN_REQUIRE_GOLDEN(path, "transformer_av_tiny.safetensors");
  const testing::TempDir dir;
  const auto set = rewrite(path, dir / "unprefixed.safetensors", {}, /*keep_prefix=*/false);
  auto model = load_transformer(set, torch::TensorOptions().dtype(torch::kFloat32));
  const auto original = load_transformer(std::make_shared<core::SafetensorsSet>(core::SafetensorsSet::open_file(path)),
                                         torch::TensorOptions().dtype(torch::kFloat32));
  EXPECT_TRUE(torch::equal(model->blocks[1]->attn1->to_out_0->weight, original->blocks[1]->attn1->to_out_0->weight));
  EXPECT_EQ(model->parameters().size(), original->parameters().size());
}

}  // namespace
}  // namespace avtrain::models
