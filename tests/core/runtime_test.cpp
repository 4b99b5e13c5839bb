#include "core/runtime.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "core/error.h"

namespace avtrain::core {
namespace {

TEST(Runtime, ThreadsComeFromAvtrainThreadsOrTheHardware) {
  ::setenv("AVTRAIN_THREADS", "1", 1);
  EXPECT_EQ(initialize_runtime().threads, 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  ::setenv("AVTRAIN_THREADS", "zero", 1);
  EXPECT_THROW(initialize_runtime(), InvalidInput);
  ::unsetenv("AVTRAIN_THREADS");
  const auto info = initialize_runtime();
  EXPECT_GE(info.threads, 1);
  EXPECT_EQ(at::get_num_threads(), info.threads);
  EXPECT_FALSE(info.torch_version.empty());
}

TEST(Runtime, ParsesCpuAndRefusesUnknownOrUnavailableDevicesNamingThem) {
  EXPECT_EQ(parse_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_EQ(parse_device("auto"),
            torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU));
  try {
    parse_device("tpu");
    FAIL();
  } catch (const InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("'tpu'"), std::string::npos);
  }
  EXPECT_THROW(parse_device("cuda:x"), InvalidInput);
  if (!torch::cuda::is_available()) EXPECT_THROW(parse_device("cuda"), InvalidInput);
}

TEST(Runtime, SeedingMakesDrawsRepeatable) {
  seed_everything(42);
  const auto first = torch::randn({4});
  seed_everything(42);
  EXPECT_TRUE(torch::equal(first, torch::randn({4})));
}

}  // namespace
}  // namespace avtrain::core
