#include "core/tensor_io.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "testing/golden.h"
#include "testing/temp_dir.h"

namespace avtrain::core {
namespace {

TEST(TensorIo, RoundTripsEveryLibTorchTypeExactly) {
  testing::TempDir dir;
  torch::manual_seed(0);
  NamedTensors tensors;
  for (const auto type : {torch::kBFloat16, torch::kFloat16, torch::kFloat32, torch::kFloat64}) {
    tensors.emplace_back(c10::toString(type), torch::randn({3, 5}).to(type));
  }
  for (const auto type : {torch::kInt64, torch::kInt32, torch::kInt16, torch::kInt8, torch::kUInt8}) {
    tensors.emplace_back(c10::toString(type), torch::randint(0, 100, {7}).to(type));
  }
  tensors.emplace_back("Bool", torch::rand({4, 2}) > 0.5);
  tensors.emplace_back("non_contiguous", torch::randn({4, 6}).t());
  write_tensors(dir / "t.safetensors", tensors, {{"k", "v"}});

  const auto set = SafetensorsSet::open(dir / "t.safetensors");
  for (const auto& [name, original] : tensors) {
    const auto read = read_tensor(set, name);
    EXPECT_EQ(read.scalar_type(), original.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(read, original.contiguous())) << name;
  }
}

TEST(TensorIo, TensorsStayValidAfterTheFileObjectIsGoneAndInPlaceEditsDoNotReachTheFile) {
  testing::TempDir dir;
  write_tensors(dir / "t.safetensors", {{"x", torch::arange(6, torch::kFloat32)}});
  torch::Tensor view;
  {
    const auto file = SafetensorsFile::open(dir / "t.safetensors");
    view = read_tensor(file, file.entry("x"));
  }
  view.add_(1);
  EXPECT_TRUE(torch::equal(view, torch::arange(1, 7, torch::kFloat32)));
  const auto again = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_TRUE(torch::equal(read_tensor(again, again.entry("x")), torch::arange(6, torch::kFloat32)));
}

TEST(TensorIo, DecodesF8TensorsToFloat32) {
  testing::TempDir dir;
  const std::vector<std::byte> e4m3{std::byte{0x38}, std::byte{0x7E}, std::byte{0xC0}, std::byte{0x01}};
  const std::vector<std::byte> e5m2{std::byte{0x3C}, std::byte{0x7B}, std::byte{0xC0}, std::byte{0x01}};
  write_safetensors(dir / "f8.safetensors",
                    {{"a", Dtype::f8_e4m3, {2, 2}, e4m3}, {"b", Dtype::f8_e5m2, {4}, e5m2}});
  const auto set = SafetensorsSet::open(dir / "f8.safetensors");
  const auto a = read_tensor(set, "a");
  EXPECT_EQ(a.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(a, torch::tensor({1.0f, 448.0f, -2.0f, 0.001953125f}).reshape({2, 2})));
  EXPECT_TRUE(torch::equal(read_tensor(set, "b"), torch::tensor({1.0f, 57344.0f, -2.0f, std::ldexp(1.0f, -16)})));
}

TEST(TensorIo, RefusesTypesSafetensorsCannotHold) {
  testing::TempDir dir;
  EXPECT_THROW(write_tensors(dir / "c.safetensors", {{"c", torch::zeros({2}, torch::kComplexFloat)}}), InvalidInput);
}

TEST(TensorIoGolden, TransformerFileReadsAsFloatTensorsWithItsConfig) {
  AVTRAIN_REQUIRE_GOLDEN(path, "transformer_av_tiny.safetensors");
  const testing::GoldenFile golden(path);
  const auto latent = golden.tensor("input.video.latent");
  EXPECT_EQ(latent.scalar_type(), torch::kFloat32);
  EXPECT_EQ(latent.sizes(), (std::vector<int64_t>{2, 60, 8}));
  EXPECT_NE(golden.metadata("config").find("\"transformer\""), std::string::npos);
}

}  // namespace
}  // namespace avtrain::core
