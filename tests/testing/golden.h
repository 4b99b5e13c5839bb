#pragma once
// Golden test vectors as tensors, and a closeness check that reports the worst element.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "core/safetensors.h"
#include "testing/golden_dir.h"

namespace avtrain::testing {

// One golden .safetensors file: tensors by name (float32 on the CPU as stored), metadata as JSON text.
class GoldenFile {
 public:
  explicit GoldenFile(const std::filesystem::path& path);
  torch::Tensor tensor(const std::string& name) const;
  bool has(const std::string& name) const;
  std::string metadata(const std::string& key) const;  // "" when absent
  const core::SafetensorsFile& file() const { return file_; }

 private:
  core::SafetensorsFile file_;
};

struct Tolerance {
  double atol = 0, rtol = 0;
  static Tolerance absolute(double atol) { return {atol, 0}; }
  // atol = factor * max|expected|, the form golden/README.md suggests for the transformer.
  static Tolerance of_absmax(double factor, const torch::Tensor& expected);
};

// |actual - expected| <= atol + rtol * |expected| everywhere; on failure the message names the
// tensor, the worst index, both values and the errors.
::testing::AssertionResult all_close(const torch::Tensor& actual, const torch::Tensor& expected, Tolerance tolerance,
                                     const std::string& what);

#define AVTRAIN_EXPECT_CLOSE(actual, expected, tolerance, what) \
  EXPECT_TRUE(::avtrain::testing::all_close((actual), (expected), (tolerance), (what)))

}  // namespace avtrain::testing
