// The HTTP API under concurrent clients, in one process so that ThreadSanitizer sees every thread:
// submitters, status pollers, stream subscribers, cancels, history and metrics readers, against a
// worker thread that claims jobs and feeds the store their progress, log lines and outcomes as the job
// runner does (the runner itself composes the LibTorch pipeline and is tested end to end elsewhere).
// Every job must complete, every subscriber must see its job's every log line once, and no answer may
// be a server error.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "service/http_api.h"
#include "service/job_store.h"
#include "service/workers.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

using json = nlohmann::json;
using testing::TempDir;
constexpr const char* kPrefix = "/fal-ai/ltx23-trainer-v2";
constexpr int kStepsPerJob = 12;

// Stands in for the runner: one thread claims queued jobs and plays them through the store.
class StoreWorker : public Workers {
 public:
  explicit StoreWorker(JobStore& store) : store_(store), thread_([this] { work(); }) {}
  ~StoreWorker() override {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void job_submitted() override { wake_.notify_all(); }
  void job_cancelled(const std::string&) override { wake_.notify_all(); }
  bool alive() const override { return true; }
  std::string metrics_text() const override { return "avtrain_test_worker 1\n"; }
  // The stand-in checks no archive: it answers which request and key it was asked for.
  nlohmann::ordered_json check_dataset(const TrainingRequest& request,
                                       const std::string& owner) const override {
    return {{"archive", request.training_data_url}, {"owner", owner}};
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      const auto job = store_.claim_next();
      if (job) play(job->id);
      lock.lock();
      if (!job) wake_.wait_for(lock, std::chrono::milliseconds(20));
    }
  }
  void play(const std::string& id) {
    for (int step = 1; step <= kStepsPerJob; ++step) {
      if (store_.find(id)->cancel_requested) {
        store_.finish(id, StoredJobStatus::cancelled, R"({"detail": "cancelled"})", 499);
        return;
      }
      store_.update_progress(id, "training", static_cast<double>(step) / kStepsPerJob,
                             "step " + std::to_string(step));
      store_.append_log(id, {0, 0, "INFO", "step " + std::to_string(step)});
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    store_.finish(id, StoredJobStatus::succeeded, R"({"billing": {"units": 100}})", 200);
  }

  JobStore& store_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
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
  StoreWorker worker(store);
  std::thread server([&] { api.serve(&worker); });
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
            client.Post(std::string(kPrefix) + "/av2av",
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
  api.stop();
  server.join();
}

}  // namespace
}  // namespace avtrain::service
