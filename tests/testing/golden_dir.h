#pragma once
// Where test data lives. Torch-free.

#include <filesystem>
#include <optional>
#include <string>

namespace avtrain::testing {

// AVTRAIN_GOLDEN_DIR, else ../shared/golden beside the project root.
std::filesystem::path golden_dir();
// The golden file's path when it exists. When it does not: fails the test under CI=true, else skips
// it with a message saying so (call through GTEST_SKIP-able code: see require_golden in golden.h).
std::optional<std::filesystem::path> find_golden(const std::string& file_name, std::string& why_missing);
bool running_under_ci();
// The npm packages installed by scripts/install-deps.sh (.deps/npm/node_modules).
std::filesystem::path npm_dir();
// The built avtrain binary (for CLI and e2e tests).
std::filesystem::path avtrain_binary();

}  // namespace avtrain::testing

// Skips the current test (or fails it under CI) when a golden file is absent; on success binds `var`.
#define AVTRAIN_REQUIRE_GOLDEN(var, file_name)                                  \
  std::filesystem::path var;                                                    \
  do {                                                                          \
    std::string avtrain_why_missing_;                                           \
    const auto avtrain_found_ = ::avtrain::testing::find_golden(file_name, avtrain_why_missing_); \
    if (!avtrain_found_) {                                                      \
      if (::avtrain::testing::running_under_ci()) FAIL() << avtrain_why_missing_; \
      GTEST_SKIP() << avtrain_why_missing_;                                     \
    }                                                                           \
    var = *avtrain_found_;                                                      \
  } while (0)
