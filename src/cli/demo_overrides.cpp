#include "cli/demo_overrides.h"

#include <CLI/CLI.hpp>

#include "core/error.h"

namespace avtrain::cli {

void add_demo_override_options(CLI::App& command, DemoOverrideArguments& args) {
  auto* demo = command.add_option_group("demo", "CPU demo and tests only: override the requests' sizes");
  demo->add_option("--demo-size", args.size, "training size WIDTHxHEIGHT (multiples of 32)");
  demo->add_option("--demo-frames", args.frames, "training frame count (8k+1)");
  demo->add_option("--demo-steps", args.steps, "training steps");
}

service::JobOverrides to_job_overrides(const DemoOverrideArguments& args) {
  service::JobOverrides overrides;
  if (!args.size.empty()) {
    const auto x = args.size.find('x');
    try {
      if (x == std::string::npos) throw std::invalid_argument("no x");
      overrides.width = std::stoi(args.size.substr(0, x));
      overrides.height = std::stoi(args.size.substr(x + 1));
    } catch (const std::exception&) {
      throw core::InvalidInput("--demo-size " + args.size + ": expected WIDTHxHEIGHT, e.g. 64x64");
    }
  }
  overrides.frames = args.frames;
  overrides.steps = args.steps;
  return overrides;
}

}  // namespace avtrain::cli
