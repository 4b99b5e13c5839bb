// `avtrain validate REQUEST.json`: checks a training request as the service would and prints the
// normalized request (defaults filled in, frame counts snapped, notes, sizes, billing) as JSON on
// stdout (exit 0); a bad request throws core::InvalidInput, so main prints the 422 body and exits 2
// (DECISIONS.md §31). Local files are allowed, as everywhere in the CLI (DECISIONS.md §21). The request
// is read as the service reads it (pydantic's lax mode, DECISIONS.md §33); --strict refuses unknown
// fields and values of another JSON type instead.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_text.h"
#include "service/request/training_request.h"

namespace avtrain::cli {
namespace {

Action add_validate(CLI::App& command) {
  auto request_path = std::make_shared<std::string>();
  command.add_option("request", *request_path, "JSON file of a training request (as POSTed to the service)")
      ->required()
      ->check(CLI::ExistingFile);
  auto strict = std::make_shared<bool>(false);
  command.add_flag("--strict", *strict,
                   "refuse unknown fields (extra_forbidden) and values of another JSON type (\"32\" for 32, "
                   "1 for true), which the service accepts and lists in the notes");
  return [request_path, strict] {
    std::ifstream file(*request_path, std::ios::binary);
    std::stringstream body;
    body << file.rdbuf();
    if (!file) {
      throw core::InvalidInput(*request_path +
                               ": cannot read the request file: check the path and its permissions");
    }
    const auto request = service::parse_training_request(
        body.str(), service::LocalFilePolicy::allow_any(),
        *strict ? service::RequestParsing::strict : service::RequestParsing::lax);
    std::cout << core::json_text(service::describe_training_request(request), 2) << std::endl;
    return 0;
  };
}

const bool registered = register_command(
    {"validate", "Check a training request JSON and print it normalized (exit 0) or its 422 body (exit 2)",
     add_validate});

}  // namespace
}  // namespace avtrain::cli
