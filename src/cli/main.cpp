// avtrain: one binary, subcommands registered by src/cli/*_command.cpp.
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/runtime.h"
#include "models/layers/scaled_dot_product.h"

namespace avtrain::cli {
namespace {

// AVTRAIN_ATTENTION restricts at::scaled_dot_product_attention to one fused kernel (LibTorch >= 2), for
// choosing the fastest on a given GPU without a rebuild (docs/performance.md compares them).
void select_attention_from_environment() {
  const char* name = std::getenv("AVTRAIN_ATTENTION");
  if (!name || !*name) return;
  try {
    models::select_attention_backend(name);
  } catch (const core::InvalidInput& error) {
    throw core::InvalidInput(
        fmt::format("AVTRAIN_ATTENTION: {}; unset it for LibTorch's own choice", error.what()));
  }
}

std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> commands;
  return commands;
}

int run(int argc, char** argv) {
  CLI::App app{"avtrain: audio+video IC-LoRA trainer and service for LTX-2.3"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(AVTRAIN_VERSION));
  std::string log_level;
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (also AVTRAIN_LOG_LEVEL)");

  auto commands = registered_commands();
  std::sort(commands.begin(), commands.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, Action>> actions;
  for (const auto& spec : commands) {
    auto* command = app.add_subcommand(spec.name, spec.description);
    actions.emplace_back(command, spec.add(*command));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (!log_level.empty()) core::set_log_level(log_level);
  core::initialize_runtime();
  select_attention_from_environment();
  for (auto& [command, action] : actions) {
    if (command->parsed()) return action();
  }
  return 1;
}

}  // namespace

bool register_command(CommandSpec spec) {
  registry().push_back(std::move(spec));
  return true;
}

const std::vector<CommandSpec>& registered_commands() { return registry(); }

}  // namespace avtrain::cli

int main(int argc, char** argv) {
  using namespace avtrain;
  // Under a file-size limit (RLIMIT_FSIZE) a write past it fails with EFBIG, reported as the job's
  // clear disk error, instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return cli::run(argc, argv);
  } catch (const core::Error& error) {
    // Invalid input and dataset rejections print their 422 body on stdout for scripts.
    if (error.http_status() == 422) std::cout << error.detail_json() << std::endl;
    core::logger("cli").error("{}", error.what());
    return error.exit_code();
  } catch (const c10::Error& error) {
    core::logger("cli").error("internal error: {}", error.what_without_backtrace());
    return 1;
  } catch (const std::exception& error) {
    core::logger("cli").error("internal error: {}", error.what());
    return 1;
  }
}
