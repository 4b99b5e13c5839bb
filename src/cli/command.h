#pragma once
// Subcommands of the avtrain binary. Each <name>_command.cpp registers itself at static
// initialization (the CLI sources are linked into the executable directly, so none is dropped):
//
//   namespace { const bool registered = avtrain::cli::register_command(
//       {"inspect", "Print a .safetensors file's tensors, parameters and config", add_inspect}); }
//
// `add` defines the subcommand's options on `command` and returns the action to run once the
// command line parsed; the action returns the process exit code (DECISIONS.md §31).

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace avtrain::cli {

using Action = std::function<int()>;

struct CommandSpec {
  std::string name;
  std::string description;
  std::function<Action(CLI::App& command)> add;
};

bool register_command(CommandSpec spec);
const std::vector<CommandSpec>& registered_commands();

}  // namespace avtrain::cli
