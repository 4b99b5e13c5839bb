#include "testing/golden.h"

#include <sstream>

#include "core/tensor_io.h"

namespace avtrain::testing {

GoldenFile::GoldenFile(const std::filesystem::path& path) : file_(core::SafetensorsFile::open(path)) {}

torch::Tensor GoldenFile::tensor(const std::string& name) const {
  return core::read_tensor(file_, file_.entry(name)).clone();
}

bool GoldenFile::has(const std::string& name) const { return file_.find(name) != nullptr; }

std::string GoldenFile::metadata(const std::string& key) const {
  const auto it = file_.metadata().find(key);
  return it == file_.metadata().end() ? std::string() : it->second;
}

Tolerance Tolerance::of_absmax(double factor, const torch::Tensor& expected) {
  return {factor * expected.abs().max().item<double>(), 0};
}

::testing::AssertionResult all_close(const torch::Tensor& actual_in, const torch::Tensor& expected_in,
                                     Tolerance tolerance, const std::string& what) {
  if (actual_in.sizes() != expected_in.sizes()) {
    std::ostringstream shapes;
    shapes << what << ": shape " << actual_in.sizes() << ", expected " << expected_in.sizes();
    return ::testing::AssertionFailure() << shapes.str();
  }
  const auto actual = actual_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const auto expected = expected_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  if (actual.numel() == 0) return ::testing::AssertionSuccess();
  const auto error = (actual - expected).abs();
  const auto allowed = tolerance.atol + tolerance.rtol * expected.abs();
  const auto excess = error - allowed;
  const auto nonfinite = ~torch::isfinite(actual) & torch::isfinite(expected);
  const bool ok = excess.max().item<double>() <= 0 && !nonfinite.any().item<bool>();
  if (ok) return ::testing::AssertionSuccess();
  const auto worst = torch::where(nonfinite, torch::full_like(excess, INFINITY), excess).argmax().item<int64_t>();
  std::ostringstream index;
  auto remaining = worst;
  std::vector<int64_t> coordinates(actual.dim());
  for (int64_t dim = actual.dim() - 1; dim >= 0; --dim) {
    coordinates[dim] = remaining % actual.size(dim);
    remaining /= actual.size(dim);
  }
  index << "[";
  for (size_t i = 0; i < coordinates.size(); ++i) index << (i ? "," : "") << coordinates[i];
  index << "]";
  const auto flat_actual = actual.flatten()[worst].item<double>();
  const auto flat_expected = expected.flatten()[worst].item<double>();
  const auto max_error = error.max().item<double>();
  return ::testing::AssertionFailure() << what << ": worst element " << index.str() << " is " << flat_actual
                                       << ", expected " << flat_expected << " (|diff| "
                                       << std::abs(flat_actual - flat_expected) << ", max |diff| " << max_error
                                       << ", atol " << tolerance.atol << ", rtol " << tolerance.rtol << ")";
}

}  // namespace avtrain::testing
