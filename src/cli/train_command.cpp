// avtrain train REQUEST.json --out DIR [--model CKPT|tiny] [--text-encoder DIR|tiny] [--device cpu|cuda]:
// runs a whole training job (issue 12, service/job_pipeline.h) in the job folder DIR and prints the
// result JSON; rerunning the same command continues the job where it stopped. On failure the error
// body (the 422 body for a bad request or dataset) is printed and written to DIR/error.json, billed 0.
// Exit codes per DECISIONS.md §31.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/command.h"
#include "cli/demo_overrides.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "models/checkpoint.h"
#include "service/job_pipeline.h"
#include "service/request/training_request.h"

namespace avtrain::cli {
namespace {

struct TrainArguments {
  std::string request_path;
  std::string out;
  std::string model;
  std::string text_encoder;
  std::string device = "auto";
  DemoOverrideArguments demo;  // CPU demo and tests only
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::InvalidInput(path + " cannot be read: give the path of a request JSON file");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int run_train(const TrainArguments& args) {
  const auto request =
      service::parse_training_request(read_text(args.request_path), service::LocalFilePolicy::allow_any());
  for (const auto& note : request.notes) core::logger("cli").info("request: {}", note);
  service::JobOptions options;
  options.device = core::parse_device(args.device);
  options.overrides = to_job_overrides(args.demo);
  const auto files = models::resolve_model_files(args.model, args.text_encoder);
  core::Progress progress("train");
  const auto run = service::run_recorded_job(request, service::JobPaths(args.out), files, options, progress);
  progress.finish();
  std::cout << core::json_text(run.body, 2) << std::endl;
  return run.exit_code;
}

Action add_train(CLI::App& command) {
  auto args = std::make_shared<TrainArguments>();
  command.add_option("request", args->request_path, "training request JSON (MISSION.md)")->required();
  command.add_option("--out", args->out, "job folder (created; rerun with the same folder to resume)")
      ->required();
  // Required: a job silently trained on the built-in tiny model would deliver a useless LoRA.
  command.add_option("--model", args->model, "LTX-2.3 checkpoint (.safetensors), or \"tiny\"")->required();
  command.add_option("--text-encoder", args->text_encoder, "Gemma 3 directory, or \"tiny\"")->required();
  command.add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  add_demo_override_options(command, args->demo);
  return [args] { return run_train(*args); };
}

const bool registered = register_command(
    {"train", "Run a training job: dataset, encoding, training, outputs and a result JSON", add_train});

}  // namespace
}  // namespace avtrain::cli
