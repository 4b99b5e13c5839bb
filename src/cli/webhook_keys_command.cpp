// avtrain webhook-keys rotate|list --data DIR [--grace-hours H]: the server's webhook signing keys
// (service/webhook_signing.h, docs/api.md "Verifying webhooks"). `rotate` makes a new signing key; the
// old one's secret is deleted and its public key stays in /.well-known/jwks.json for the grace period
// (default 168 h), so receivers with a cached key set keep verifying. A running server signs with the
// new key from its next webhook on. `list` prints every key (kid, state, dates) as JSON.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "service/webhook_signing.h"

namespace avtrain::cli {
namespace {

namespace fs = std::filesystem;

struct WebhookKeysArguments {
  std::string data;
  double grace_hours = std::chrono::duration<double, std::ratio<3600>>(service::kDefaultKeyGrace).count();
};

fs::path keys_file(const WebhookKeysArguments& args) {
  if (!fs::is_directory(args.data)) {
    throw core::InvalidInput("--data " + args.data +
                             " is not a folder: give the data folder of `avtrain serve`");
  }
  return fs::path(args.data) / service::kWebhookKeysFileName;
}

Action add_webhook_keys(CLI::App& command) {
  auto args = std::make_shared<WebhookKeysArguments>();
  command.require_subcommand(1);
  auto* rotate =
      command.add_subcommand("rotate", "make a new signing key; the old public key stays published");
  auto* list = command.add_subcommand("list", "print the keys as JSON");
  for (auto* sub : {rotate, list}) {
    sub->add_option("--data", args->data, "the data folder of `avtrain serve`")->required();
  }
  rotate->add_option("--grace-hours", args->grace_hours, "hours the old public key stays in the JWKS")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  return [args, rotate] {
    const fs::path file = keys_file(*args);
    if (*rotate) {
      const auto grace = std::chrono::seconds(std::llround(args->grace_hours * 3600));
      const std::string kid = service::rotate_webhook_key(file, grace);
      std::cout << nlohmann::json{{"signing_key", kid}, {"grace_hours", args->grace_hours}}.dump()
                << std::endl;
      return 0;
    }
    nlohmann::ordered_json keys = nlohmann::ordered_json::array();
    for (const auto& key : service::read_webhook_keys(file)) {
      keys.push_back({{"kid", key.kid},
                      {"state", key.seed.empty() ? "retired" : "signing"},
                      {"created_ms", key.created_ms},
                      {"retired_ms", key.retired_ms},
                      {"published_until_ms", key.published_until_ms}});
    }
    std::cout << nlohmann::ordered_json{{"keys", keys}}.dump(2) << std::endl;
    return 0;
  };
}

const bool registered = register_command(
    {"webhook-keys", "Rotate or list the server's webhook signing keys (the JWKS at /.well-known/jwks.json)",
     add_webhook_keys});

}  // namespace
}  // namespace avtrain::cli
