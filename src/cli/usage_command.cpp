// avtrain usage --data DIR [--from TIME] [--to TIME] [--json]: the operator's usage ledger across keys
// (service/usage.h): per key identity, the jobs finished in the period by outcome, the units billed and
// their cost. A table by default; --json prints one object per key. The records of jobs whose data was
// deleted (DELETE, retention) still count.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_text.h"
#include "service/job_store.h"
#include "service/request/billing.h"
#include "service/time_text.h"
#include "service/usage.h"

namespace avtrain::cli {
namespace {

namespace fs = std::filesystem;

struct UsageArguments {
  std::string data, from, to;
  bool json = false;
};

int64_t time_of(const std::string& text, const char* option, int64_t fallback) {
  if (text.empty()) return fallback;
  if (const auto ms = service::parse_time_ms(text)) return *ms;
  throw core::InvalidInput(fmt::format(
      "{} {}: not a time; write a date (2026-12-01), a UTC time (2026-12-01T12:00:00Z) or Unix seconds",
      option, text));
}

int run_usage(const UsageArguments& args) {
  const fs::path store_file = fs::path(args.data) / "jobs.sqlite3";
  if (!fs::exists(store_file)) {
    throw core::InvalidInput("--data " + args.data +
                             " holds no job store (jobs.sqlite3): give the data folder of "
                             "`avtrain serve`");
  }
  const int64_t from = time_of(args.from, "--from", service::kBeginningOfTime);
  const int64_t to = time_of(args.to, "--to", service::kNoEnd);
  const service::JobStore store(store_file);
  const auto usage = store.usage(from, to);
  if (args.json) {
    nlohmann::ordered_json keys = nlohmann::ordered_json::array();
    for (const auto& entry : usage) {
      auto object = service::usage_json(entry, from, to);
      object["key"] = entry.owner.empty() ? "(no key)" : entry.owner;
      keys.push_back(std::move(object));
    }
    std::cout << core::json_text(keys, 2) << std::endl;
    return 0;
  }
  std::cout << fmt::format("{:<20} {:>6} {:>9} {:>7} {:>9} {:>9} {:>10}\n", "key", "jobs", "succeeded",
                           "failed", "cancelled", "units", "usd");
  service::KeyUsage total;
  for (const auto& entry : usage) {
    const std::string key = entry.owner.empty() ? "(no key)" : entry.owner.substr(0, 16) + "...";
    std::cout << fmt::format("{:<20} {:>6} {:>9} {:>7} {:>9} {:>9} {:>10}\n", key, entry.jobs,
                             entry.succeeded, entry.failed, entry.cancelled, entry.units,
                             service::format_cost_usd(entry.units));
    total.jobs += entry.jobs;
    total.succeeded += entry.succeeded;
    total.failed += entry.failed;
    total.cancelled += entry.cancelled;
    total.units += entry.units;
  }
  std::cout << fmt::format("{:<20} {:>6} {:>9} {:>7} {:>9} {:>9} {:>10}\n", "all keys", total.jobs,
                           total.succeeded, total.failed, total.cancelled, total.units,
                           service::format_cost_usd(total.units));
  return 0;
}

Action add_usage(CLI::App& command) {
  auto args = std::make_shared<UsageArguments>();
  command.add_option("--data", args->data, "the data folder of `avtrain serve`")->required();
  command.add_option("--from", args->from,
                     "count jobs finished at or after this time (a date, a UTC time, Unix seconds)");
  command.add_option("--to", args->to, "count jobs finished before this time");
  command.add_flag("--json", args->json, "print one JSON object per key instead of a table");
  return [args] { return run_usage(*args); };
}

const bool registered = register_command(
    {"usage", "Print the usage ledger of a server's data folder per API key (jobs, units, cost)", add_usage});

}  // namespace
}  // namespace avtrain::cli
