#include "testing/golden_dir.h"

#include <cstdlib>
#include <string_view>

namespace avtrain::testing {

std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("AVTRAIN_GOLDEN_DIR"); env && *env) return env;
  return std::filesystem::path(AVTRAIN_SOURCE_DIR).parent_path() / "shared" / "golden";
}

bool running_under_ci() {
  const char* ci = std::getenv("CI");
  return ci && (std::string_view(ci) == "true" || std::string_view(ci) == "1");
}

std::optional<std::filesystem::path> find_golden(const std::string& file_name, std::string& why_missing) {
  const auto path = golden_dir() / file_name;
  if (std::filesystem::exists(path)) return path;
  why_missing = "golden file " + path.string() +
                " is missing (set AVTRAIN_GOLDEN_DIR to the folder of golden vectors)";
  return std::nullopt;
}

std::filesystem::path npm_dir() { return AVTRAIN_NPM_DIR; }

std::filesystem::path avtrain_binary() { return std::filesystem::path(AVTRAIN_BINARY_DIR) / "avtrain"; }

}  // namespace avtrain::testing
