// avtrain dataset check ARCHIVE [--request REQUEST.json] [--json] [--prepare DIR [--debug-zip ZIP]]:
// applies the dataset rules to an archive (a path, file:// URL or http(s) URL) and prints the report:
// pairs, skips and their reasons, warnings, errors. Exits 2 when the request would be refused with
// 422, 3 when the archive cannot be fetched (DECISIONS.md §31).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/progress.h"
#include "dataset/dataset_check.h"
#include "dataset/debug_archive.h"
#include "dataset/preprocess.h"
#include "service/fetch.h"
#include "service/job_pipeline.h"
#include "service/request/training_request.h"

namespace avtrain::cli {
namespace {

namespace fs = std::filesystem;

struct DatasetCheckArgs {
  std::string archive;
  std::string request_path;
  bool json = false;
  std::string prepare_dir;
  std::string debug_zip;
};

// A scratch folder for the download and the extraction, removed when the command ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() / fmt::format("avtrain-dataset-{}-{:08x}", getpid(), random());
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The request from REQUEST.json; its training_data_url defaults to the archive being checked.
service::TrainingRequest read_request(const std::string& path, const std::string& archive) {
  std::ifstream in(path);
  if (!in) throw core::InvalidInput(path + " cannot be read: give the path of a request JSON file");
  nlohmann::ordered_json body;
  try {
    body = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw core::InvalidInput({core::Problem{
        {"body"}, path + " is not valid JSON: " + core::json_failure_text(error), "json_invalid"}});
  }
  if (body.is_object() && !body.contains("training_data_url")) body["training_data_url"] = archive;
  return service::parse_training_request_json(body, service::LocalFilePolicy::allow_any());
}

int run_check(const DatasetCheckArgs& args) {
  dataset::DatasetOptions options;
  if (!args.request_path.empty())
    options = service::dataset_options(read_request(args.request_path, args.archive));
  ScratchDir scratch;
  service::FetchOptions fetch_options;
  fetch_options.allow_private_destinations = true;  // the CLI user owns the machine (DECISIONS.md §21)
  core::Progress progress("dataset");
  if (!args.prepare_dir.empty()) {
    const auto fetched =
        service::fetch(args.archive, scratch.path() / "download.zip", fetch_options, &progress);
    const std::string archive_name = service::archive_file_name(args.archive);
    const fs::path work_dir = args.prepare_dir;
    const auto prepared = dataset::prepare_dataset(fetched.path, work_dir, archive_name, options,
                                                   !args.debug_zip.empty(), {}, &progress);
    progress.finish();
    if (!args.debug_zip.empty()) dataset::write_debug_archive(prepared, args.debug_zip);
    if (args.json) {
      std::ifstream manifest(prepared.manifest);
      std::cout << manifest.rdbuf();
    } else {
      std::cout << dataset::to_text(prepared.report)
                << fmt::format("prepared: {} pairs in {} (manifest {})\n", prepared.pairs.size(),
                               work_dir.string(), prepared.manifest.string());
    }
    return 0;
  }

  const auto report =
      service::check_dataset_at(args.archive, options, fetch_options, scratch.path(), &progress).report;
  progress.finish();
  if (args.json) {
    std::cout << core::json_text(dataset::to_json(report), 2) << std::endl;
  } else {
    std::cout << dataset::to_text(report);
  }
  if (report.rejected()) {
    core::logger("cli").error("{}: the dataset would be refused (422): {} problem{}", report.archive_name,
                              report.problems.size(), report.problems.size() == 1 ? "" : "s");
    return core::DatasetRejected(report.problems).exit_code();
  }
  return 0;
}

Action add_dataset(CLI::App& command) {
  command.require_subcommand(1);
  auto args = std::make_shared<DatasetCheckArgs>();
  auto* check = command.add_subcommand(
      "check", "Apply the dataset rules to an archive and print pairs, skips, warnings and errors");
  check->add_option("archive", args->archive, "the .zip: a path, a file:// URL or an http(s) URL")
      ->required();
  check->add_option(
      "--request", args->request_path,
      "a training request JSON whose settings (frames, frame rate, auto_scale_input, ...) apply; its "
      "training_data_url may be left out");
  check->add_flag("--json", args->json, "print the report (or, with --prepare, the manifest) as JSON");
  check->add_option("--prepare", args->prepare_dir,
                    "also preprocess the qualifying pairs into tensors and a manifest in this folder");
  check->add_option(
      "--debug-zip", args->debug_zip,
      "with --prepare: also write the debug_dataset archive (fitted clips as mp4, prompts, manifest)");
  return [args, check]() -> int {
    if (!args->debug_zip.empty() && args->prepare_dir.empty()) {
      throw core::InvalidInput(
          "--debug-zip needs --prepare DIR: the debug archive holds the preprocessed clips");
    }
    if (check->parsed()) return run_check(*args);
    return 1;
  };
}

const bool registered = register_command(
    {"dataset", "Check a training archive against the dataset rules (and optionally preprocess it)",
     add_dataset});

}  // namespace
}  // namespace avtrain::cli
