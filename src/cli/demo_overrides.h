#pragma once
// The demo/test size overrides shared by `avtrain train` and `avtrain serve` (service/job_pipeline.h
// JobOverrides): below the request contract's sizes, for the CPU demo and the end-to-end tests only.
#include <optional>
#include <string>

#include "service/job_pipeline.h"

namespace CLI {
class App;
}

namespace avtrain::cli {

struct DemoOverrideArguments {
  std::string size;  // WIDTHxHEIGHT
  std::optional<int> frames, steps;
};

// Adds --demo-size, --demo-frames and --demo-steps in a "demo" option group.
void add_demo_override_options(CLI::App& command, DemoOverrideArguments& args);
// Throws core::InvalidInput naming --demo-size when it is not WIDTHxHEIGHT.
service::JobOverrides to_job_overrides(const DemoOverrideArguments& args);

}  // namespace avtrain::cli
