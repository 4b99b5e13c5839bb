// The HTTP API and the job runner under concurrent clients, in one process so that ThreadSanitizer
// sees every thread: submitters, status pollers, stream subscribers, cancels, dataset checks, history
// and metrics readers, against the real JobRunner (3 workers, the housekeeper, webhook deliveries to a
// receiver on loopback) whose executor plays each job through its progress, log lines, previews and
// published files as the pipeline does (the pipeline itself is LibTorch's, tested end to end elsewhere).
// Every job must complete once, every subscriber must see its job's every log line once, every webhook
// must arrive once, and no answer may be a server error.
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "service/http_api.h"
#include "service/job_executor.h"
#include "service/job_runner.h"
#include "service/job_store.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

using json = nlohmann::json;
using testing::TempDir;
constexpr const char* kPrefix = "/fal-ai/ltx23-trainer-v2";
constexpr int kStepsPerJob = 12;

// Plays a job as the pipeline does, through the runner's hooks: stage progress, a log line and a step
// time per step, a preview and a published result file; stops at a cancel like the pipeline.
class ScriptedExecutor : public JobExecutor {
 public:
  JobRun run(const StoredJob& job, const JobPaths& paths, int, const JobHooks& hooks,
             core::Progress& progress) const override {
    try {
      auto training = progress.stage("training", 0.0, 1.0);
      for (int step = 1; step <= kStepsPerJob; ++step) {
        training.throw_if_cancelled();
        training.update(static_cast<double>(step) / kStepsPerJob, "step " + std::to_string(step));
        core::logger("job").info("job {} step {}", job.id, step);
        hooks.on_step(0.002);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      std::filesystem::create_directories(paths.outputs_dir());
      const auto lora = paths.outputs_dir() / "lora.safetensors";
      std::ofstream(lora) << "weights of " << job.id;
      hooks.on_preview(kStepsPerJob, lora);
      return {0,
              {{"lora_file", {{"url", hooks.file_url(lora, "application/octet-stream")}}},
               {"billing", {{"units", 100}, {"cost_usd", "0.68"}}}}};
    } catch (const core::Cancelled& cancelled) {
      return {
          cancelled.exit_code(),
          {{"detail", cancelled.what()}, {"status", 499}, {"billing", {{"units", 0}, {"cost_usd", "0.00"}}}}};
    }
  }
  WorkerDevice device(int worker_index) const override { return {"cpu" + std::to_string(worker_index), 0}; }
  nlohmann::ordered_json check_dataset(const TrainingRequest& request, const FetchOptions&,
                                       const std::filesystem::path& scratch_dir) const override {
    std::ofstream(scratch_dir / "download.zip") << "checked";
    return {{"archive", request.training_data_url}, {"pairs", nlohmann::json::array()}};
  }
  std::vector<std::pair<std::string, std::string>> private_folders() const override { return {}; }
};

TEST(QueueApiConcurrency, ClientsOfEveryKindAtOnceGetConsistentAnswers) {
  const TempDir dir;
  JobStore store(dir / "jobs.sqlite3");
  ApiSettings settings;
  settings.port = 0;
  settings.jobs_dir = dir / "jobs";
  settings.uploads_dir = dir / "uploads";
  settings.min_free_disk_bytes = 0;
  QueueApi api(store, settings);
  // Webhooks go to a receiver on loopback that counts them by request.
  httplib::Server receiver;
  std::mutex hooks_mutex;
  std::map<std::string, int> webhooks;
  receiver.Post("/hook", [&](const httplib::Request& request, httplib::Response& response) {
    const std::lock_guard lock(hooks_mutex);
    ++webhooks[json::parse(request.body).at("request_id").get<std::string>()];
    response.status = 200;
  });
  const int receiver_port = receiver.bind_to_any_port("127.0.0.1");
  std::thread receiving([&] { receiver.listen_after_bind(); });
  const ScriptedExecutor executor;
  RunnerSettings runner_settings;
  runner_settings.jobs_dir = dir / "jobs";
  runner_settings.executor = &executor;
  runner_settings.workers = 3;
  runner_settings.allow_private_webhooks = true;
  runner_settings.public_url = "http://127.0.0.1";
  runner_settings.uploads = &api.uploads();
  JobRunner runner(store, runner_settings);
  runner.start();
  std::thread server([&] { api.serve(&runner); });
  // However the test ends (an ASSERT returns early), the runner, the API and the receiver stop and their
  // threads are joined, so a failure is reported rather than ending the process.
  struct StopAll {
    std::function<void()> stop;
    ~StopAll() { stop(); }
  } stop_all{[&] {
    runner.stop();
    api.stop();
    if (server.joinable()) server.join();
    receiver.stop();
    if (receiving.joinable()) receiving.join();
  }};
  const int port = api.port();
  // cpp-httplib (an uninstrumented Debian library) initializes function-local statics (its response-line
  // regex) on first use; TSan cannot see that guard, so the first use happens before any client thread.
  ASSERT_TRUE(httplib::Client("127.0.0.1", port).Get("/healthz"));

  constexpr int kSubmitters = 4, kJobsEach = 5, kSubscribersPerJob = 3;
  std::mutex ids_mutex;
  std::vector<std::string> ids;
  std::atomic<int> server_errors{0};
  const auto count = [&](const httplib::Result& result) {
    if (!result || result->status >= 500) ++server_errors;
  };

  std::vector<std::thread> clients;
  std::vector<std::thread> subscribers;
  std::mutex streams_mutex;
  std::vector<std::pair<std::string, std::vector<std::string>>> streams;  // job id, log lines received
  const auto subscribe = [&](const std::string& id) {
    subscribers.emplace_back([&, id] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(std::chrono::seconds(60));
      std::string pending;
      std::vector<std::string> lines;
      const auto result = client.Get(std::string(kPrefix) + "/requests/" + id + "/status/stream?logs=1",
                                     [&](const char* data, size_t size) {
                                       pending.append(data, size);
                                       for (size_t end; (end = pending.find("\n\n")) != std::string::npos;) {
                                         const std::string event = pending.substr(0, end);
                                         pending.erase(0, end + 2);
                                         if (event.rfind("data: ", 0) != 0) continue;
                                         const auto status = json::parse(event.substr(6));
                                         for (const auto& line : status["logs"])
                                           lines.push_back(line["message"]);
                                       }
                                       return true;
                                     });
      count(result);
      const std::lock_guard lock(streams_mutex);
      streams.emplace_back(id, std::move(lines));
    });
  };
  for (int submitter = 0; submitter < kSubmitters; ++submitter) {
    clients.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      for (int job = 0; job < kJobsEach; ++job) {
        const auto answer =
            client.Post(std::string(kPrefix) +
                            "/av2av?fal_webhook=http://127.0.0.1:" + std::to_string(receiver_port) + "/hook",
                        R"({"training_data_url": "https://example.com/clips.zip"})", "application/json");
        count(answer);
        ASSERT_TRUE(answer && answer->status == 200) << (answer ? answer->body : "no answer");
        const std::lock_guard lock(ids_mutex);
        ids.push_back(json::parse(answer->body).at("request_id"));
      }
    });
  }
  for (auto& client : clients) client.join();
  clients.clear();
  ASSERT_EQ(ids.size(), static_cast<size_t>(kSubmitters * kJobsEach));
  for (const auto& id : ids) {
    for (int subscriber = 0; subscriber < kSubscribersPerJob; ++subscriber) subscribe(id);
  }
  // Pollers, a canceller, history, usage and metrics readers while the jobs run.
  std::atomic<bool> done{false};
  for (int poller = 0; poller < 4; ++poller) {
    clients.emplace_back([&, poller] {
      httplib::Client client("127.0.0.1", port);
      for (size_t at = poller; !done; at = (at + 1) % ids.size()) {
        count(client.Get(std::string(kPrefix) + "/requests/" + ids[at] + "/status?logs=1"));
      }
    });
  }
  clients.emplace_back([&] {
    httplib::Client client("127.0.0.1", port);
    for (size_t at = 0; at < ids.size(); at += 7) {
      count(client.Put(std::string(kPrefix) + "/requests/" + ids[at] + "/cancel", "", "application/json"));
    }
  });
  clients.emplace_back([&] {
    httplib::Client client("127.0.0.1", port);
    while (!done) {
      const auto checked =
          client.Post(std::string(kPrefix) + "/dataset-check",
                      R"({"training_data_url": "https://example.com/clips.zip"})", "application/json");
      count(checked);
      EXPECT_TRUE(checked && checked->status == 200) << (checked ? checked->body : "no answer");
    }
  });
  clients.emplace_back([&] {
    httplib::Client client("127.0.0.1", port);
    while (!done) {
      count(client.Get(std::string(kPrefix) + "/requests?limit=7"));
      count(client.Get("/usage"));
      count(client.Get("/metrics"));
      count(client.Get("/readyz"));
    }
  });

  for (auto& subscriber : subscribers) subscriber.join();
  done = true;
  for (auto& client : clients) client.join();

  httplib::Client client("127.0.0.1", port);
  for (const auto& id : ids) {
    const auto status = client.Get(std::string(kPrefix) + "/requests/" + id + "/status?logs=1");
    ASSERT_TRUE(status);
    const auto body = json::parse(status->body);
    EXPECT_EQ(body.at("status"), "COMPLETED") << id;
  }
  ASSERT_EQ(streams.size(), ids.size() * kSubscribersPerJob);
  for (const auto& [id, lines] : streams) {
    const auto status = client.Get(std::string(kPrefix) + "/requests/" + id + "/status?logs=1");
    const auto body = json::parse(status->body);  // kept: the loop below walks into it
    std::vector<std::string> expected;
    for (const auto& line : body.at("logs")) expected.push_back(line.at("message"));
    EXPECT_EQ(lines, expected) << "job " << id << ": a stream missed or repeated log lines";
  }
  EXPECT_EQ(server_errors.load(), 0);
  // Every job ended once (succeeded, or cancelled where the canceller reached it) and its webhook came
  // once; the dataset checks left no scratch folder behind.
  const auto all_delivered = [&] {
    for (const auto& id : ids) {
      if (!store.find(id)->webhook_delivered) return false;
    }
    return true;
  };
  for (int wait = 0; wait < 600 && !all_delivered(); ++wait)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    const std::lock_guard lock(hooks_mutex);
    for (const auto& id : ids) EXPECT_EQ(webhooks[id], 1) << "webhooks of " << id;
  }
  int cancelled = 0;
  for (const auto& id : ids) {
    const auto job = store.find(id);
    EXPECT_TRUE(job->status == StoredJobStatus::succeeded || job->status == StoredJobStatus::cancelled) << id;
    cancelled += job->status == StoredJobStatus::cancelled;
  }
  EXPECT_LE(cancelled, 3);
  EXPECT_TRUE(std::filesystem::is_empty(dir / "dataset-checks"));
}

}  // namespace
}  // namespace avtrain::service
