// avtrain serve --listen HOST:PORT --data DIR --model CKPT|tiny --text-encoder DIR|tiny [--api-keys FILE]
// [--workers N] [--public-url URL] [--allow-local-files DIR] [--allow-private-network] [--device D]
// [--max-upload-size SIZE] [--retention-days N] [--min-free-disk SIZE]: the HTTP queue service (issue 13,
// service/http_api.h, docs/api.md). Jobs persist in DIR (jobs.sqlite3 and one folder per job under DIR/jobs),
// uploads in DIR/uploads, the webhook signing keys in DIR/webhook_keys.json (made on first start); a
// restarted server resumes queued and interrupted jobs. Once listening it prints "avtrain serve: listening on
// URL" on stdout. SIGINT/SIGTERM stop it; running jobs go back to the queue and resume at the next start.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "cli/command.h"
#include "cli/demo_overrides.h"
#include "core/error.h"
#include "core/log.h"
#include "core/runtime.h"
#include "models/checkpoint.h"
#include "service/folder_lock.h"
#include "service/http_api.h"
#include "service/job_pipeline.h"
#include "service/job_runner.h"
#include "service/job_store.h"
#include "service/pipeline_executor.h"
#include "service/uploads.h"
#include "service/webhook_signing.h"

namespace avtrain::cli {
namespace {

struct ServeArguments {
  std::string listen = "127.0.0.1:8080";
  std::string data;
  std::string model;
  std::string text_encoder;
  std::string api_keys;
  int workers = 0;  // 0: one per CUDA device, else 1
  std::string public_url;
  std::string allow_local_files;
  bool allow_private_network = false;
  std::string device = "auto";
  std::string max_upload_size = "20GiB";
  double retention_days = 30;
  std::string min_free_disk = "1GiB";
  DemoOverrideArguments demo;  // CPU demo and tests only
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" (loopback).
std::pair<std::string, int> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  try {
    size_t used = 0;
    const int port = std::stoi(text.substr(colon + 1), &used);
    if (colon == std::string::npos || used != text.size() - colon - 1 || port < 0 || port > 65535)
      throw std::invalid_argument("port");
    return {host, port};
  } catch (const std::exception&) {
    throw core::InvalidInput("--listen " + text +
                             ": expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free port)");
  }
}

// Each open connection (a status stream, a keep-alive client) holds a descriptor: the soft limit,
// often 1024, goes up to the hard one so that connections, not descriptors, are what runs out.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    core::logger("service").warn("cannot raise the open-file limit: {}", std::strerror(errno));
  }
}

int run_serve(const ServeArguments& args) {
  namespace fs = std::filesystem;
  // SIGINT/SIGTERM are taken by one waiting thread (blocked everywhere else, inherited by every
  // thread started below), which stops the API; the workers are stopped after it returns.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reloads --api-keys
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  raise_open_file_limit();
  const auto [host, port] = parse_listen(args.listen);
  const fs::path data = fs::absolute(args.data);
  fs::create_directories(data / "jobs");
  // One server per data folder: its store, job folders and uploads have one writer.
  const service::FolderLock data_lock(data, "data folder");
  const auto local_files = args.allow_local_files.empty()
                               ? service::LocalFilePolicy::refuse_all()
                               : service::LocalFilePolicy::allow_under(fs::absolute(args.allow_local_files));

  service::WebhookSigner webhook_signer(data / service::kWebhookKeysFileName);
  service::ApiSettings api_settings;
  api_settings.host = host;
  api_settings.port = port;
  api_settings.public_url = args.public_url;
  std::shared_ptr<service::ApiKeys> api_keys;
  if (!args.api_keys.empty()) api_keys = std::make_shared<service::ApiKeys>(args.api_keys);
  api_settings.api_keys = api_keys;
  api_settings.jobs_dir = data / "jobs";
  api_settings.min_free_disk_bytes = service::parse_byte_size(args.min_free_disk, "--min-free-disk");
  api_settings.local_files = local_files;
  api_settings.uploads_dir = data / "uploads";
  api_settings.max_upload_bytes = service::parse_byte_size(args.max_upload_size, "--max-upload-size");
  api_settings.site_files = service::dashboard_files();
  api_settings.webhook_signer = &webhook_signer;

  service::PipelineSettings pipeline;
  pipeline.model_files = models::resolve_model_files(args.model, args.text_encoder);
  auto& options = pipeline.job_options;
  options.device = core::parse_device(args.device);
  options.overrides = to_job_overrides(args.demo);
  pipeline.local_files = local_files;

  service::RunnerSettings runner_settings;
  runner_settings.jobs_dir = data / "jobs";
  runner_settings.fetch.local_files = local_files;
  runner_settings.fetch.allow_private_destinations = args.allow_private_network;
  runner_settings.allow_private_webhooks = args.allow_private_network;
  runner_settings.workers =
      args.workers > 0
          ? args.workers
          : (options.device.is_cuda() ? std::max<int>(1, static_cast<int>(torch::cuda::device_count())) : 1);
  // CPU workers share the cores: more LibTorch threads than cores make them spin at their barriers
  // (several times slower). AVTRAIN_THREADS, when set, is the operator's choice per worker.
  if (!options.device.is_cuda() && runner_settings.workers > 1 && !std::getenv("AVTRAIN_THREADS")) {
    torch::set_num_threads(std::max(1, torch::get_num_threads() / runner_settings.workers));
  }

  service::JobStore store(data / "jobs.sqlite3");
  // Jobs stored under the first wave's key identities move to today's (service/api_keys.h).
  for (const auto& [legacy, identity] :
       api_keys ? api_keys->legacy_identities() : std::vector<std::pair<std::string, std::string>>{}) {
    if (const int moved = store.rename_owner(legacy, identity); moved > 0) {
      core::logger("service").info("job store: {} job(s) of an API key moved to its SHA-256 identity", moved);
    }
  }
  service::QueueApi api(store, api_settings);
  pipeline.store = &store;
  const service::PipelineExecutor executor(pipeline);
  runner_settings.executor = &executor;
  runner_settings.public_url = api.public_url();
  runner_settings.webhook_signer = &webhook_signer;
  runner_settings.api_keys = api_keys;
  runner_settings.retention =
      std::chrono::seconds(static_cast<int64_t>(std::llround(args.retention_days * 86400)));
  runner_settings.uploads = &api.uploads();
  service::JobRunner runner(store, runner_settings);
  runner.start();

  std::thread signal_waiter([&api, &stop_signals, &api_keys] {
    for (;;) {
      int signal = 0;
      sigwait(&stop_signals, &signal);
      if (signal != SIGHUP) {
        core::logger("service").info("signal {}: stopping (running jobs resume at the next start)", signal);
        api.stop();
        return;
      }
      if (!api_keys) {
        core::logger("service").warn("SIGHUP: no --api-keys to reload");
        continue;
      }
      try {
        api_keys->reload();
        core::logger("service").info("SIGHUP: --api-keys reloaded ({} key(s))", api_keys->size());
      } catch (const core::Error& error) {
        core::logger("service").error("SIGHUP: --api-keys not reloaded, the keys stay as they were: {}",
                                      error.what());
      }
    }
  });
  core::logger("service").info(
      "{} worker(s) on {}{}; data in {}", runner_settings.workers, options.device.str(),
      options.device.is_cuda() ? "" : fmt::format(", {} thread(s) each", torch::get_num_threads()),
      data.string());
  std::cout << "avtrain serve: listening on http://"
            << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ":" << api.port()
            << std::endl;
  api.serve(&runner);
  runner.stop();
  // The waiter is still in sigwait when serve() ended for another reason: wake it.
  pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  return 0;
}

Action add_serve(CLI::App& command) {
  auto args = std::make_shared<ServeArguments>();
  command.add_option("--listen", args->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  command.add_option("--data", args->data, "folder of the job store and the job folders (created)")
      ->required();
  command.add_option("--model", args->model, "LTX-2.3 checkpoint (.safetensors), or \"tiny\"")->required();
  command.add_option("--text-encoder", args->text_encoder, "Gemma 3 directory, or \"tiny\"")->required();
  command.add_option("--api-keys", args->api_keys,
                     "file of API keys, one per line (without it: no authentication, loopback only)");
  command.add_option("--workers", args->workers, "jobs run at once (default: one per GPU, 1 on CPU)");
  command.add_option(
      "--public-url", args->public_url,
      "base of the URLs handed out, e.g. https://trainer.example.com (default: the listen address)");
  command.add_option(
      "--allow-local-files", args->allow_local_files,
      "requests may name local files (file:// URLs, paths) under this folder (DECISIONS.md §21)");
  command.add_flag(
      "--allow-private-network", args->allow_private_network,
      "downloads and webhooks may reach loopback and private addresses (tests, private networks)");
  command.add_option("--device", args->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  command
      .add_option(
          "--retention-days", args->retention_days,
          "finished jobs' data and uploads older than this are deleted (their records stay for usage); "
          "0 keeps them")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--min-free-disk", args->min_free_disk,
                  "GET /readyz fails while the data folder has less free space than this")
      ->capture_default_str();
  command
      .add_option("--max-upload-size", args->max_upload_size,
                  "largest file a client may upload through the storage routes (e.g. 20GiB, 500M)")
      ->capture_default_str();
  add_demo_override_options(command, args->demo);
  return [args] { return run_serve(*args); };
}

const bool registered = register_command(
    {"serve", "Serve training jobs over HTTP (the hosted queue API: submit, status, result, cancel)",
     add_serve});

}  // namespace
}  // namespace avtrain::cli
