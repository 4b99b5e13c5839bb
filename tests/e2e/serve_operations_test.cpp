// Running `avtrain serve` for real (issue 25), end to end through real HTTP with the tiny model: the
// key's history with cursor paging, deletion and retention (records kept for the ledger, working files
// gone once a job is delivered), usage per key over HTTP and in `avtrain usage`, poison jobs, the keys
// file's limits and its reload on SIGHUP, the health, readiness and metrics routes, and a job that cannot
// fit the server's disk.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include "serve_fixture.h"
#include "testing/capped_folder.h"

namespace avtrain::service {
namespace {

using namespace serve_testing;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_F(ServeTest, TheHistoryListsAKeysJobsNewestFirstInPages) {
  std::ofstream(dir_ / "keys.txt") << "key-a\nkey-b\n";
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, 1, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();
  const Api a = Api::with_key(server.port(), "key-a");
  const Api b = Api::with_key(server.port(), "key-b");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(submit(a, request()).at("request_id").get<std::string>());
  const std::string other = submit(b, request()).at("request_id").get<std::string>();
  for (const auto& id : ids) wait_until_completed(a, id, server);
  wait_until_completed(b, other, server);

  const json first = body_of(a.get(std::string(kPrefix) + "/requests?limit=2"), "GET history");
  ASSERT_EQ(first.at("requests").size(), 2u) << first.dump();
  EXPECT_EQ(first["requests"][0].value("request_id", ""), ids[2]) << "newest first";
  EXPECT_EQ(first["requests"][1].value("request_id", ""), ids[1]);
  const auto& item = first["requests"][0];
  EXPECT_EQ(item.value("status", ""), "COMPLETED");
  EXPECT_EQ(item.value("outcome", ""), "succeeded");
  EXPECT_EQ(item.value("stage", ""), "succeeded");
  EXPECT_DOUBLE_EQ(item.value("progress", 0.0), 1.0);
  EXPECT_EQ(item.at("billing").value("units", 0), 100) << item.dump();
  EXPECT_EQ(item.at("billing").value("cost_usd", ""), "0.68");
  for (const char* time : {"created_at", "started_at", "finished_at"}) {
    EXPECT_TRUE(item.at(time).is_string()) << time << ": " << item.dump();
  }
  EXPECT_TRUE(item.at("deleted_at").is_null());
  ASSERT_TRUE(first.at("next_cursor").is_string()) << first.dump();
  const json second = body_of(
      a.get(std::string(kPrefix) + "/requests?limit=2&cursor=" + first["next_cursor"].get<std::string>()),
      "page 2");
  ASSERT_EQ(second.at("requests").size(), 1u) << second.dump();
  EXPECT_EQ(second["requests"][0].value("request_id", ""), ids[0]);
  EXPECT_TRUE(second.at("next_cursor").is_null()) << second.dump();

  const json others = body_of(b.get(std::string(kPrefix) + "/requests"), "GET history (key b)");
  ASSERT_EQ(others.at("requests").size(), 1u) << "a key sees only its own jobs: " << others.dump();
  EXPECT_EQ(others["requests"][0].value("request_id", ""), other);
  const json queued =
      body_of(a.get(std::string(kPrefix) + "/requests?status=IN_QUEUE"), "GET history IN_QUEUE");
  EXPECT_TRUE(queued.at("requests").empty()) << queued.dump();
  const json done =
      body_of(a.get(std::string(kPrefix) + "/requests?status=succeeded"), "GET history succeeded");
  EXPECT_EQ(done.at("requests").size(), 3u) << done.dump();
  const auto bad = a.get(std::string(kPrefix) + "/requests?status=finished&limit=0");
  const json bad_body = body_of(bad, "GET history (bad query)");
  EXPECT_EQ(bad->status, 422) << bad_body.dump();
  EXPECT_EQ(bad_body.at("detail").size(), 2u) << bad_body.dump();
  server.stop();
}

TEST_F(ServeTest, DeletingAJobRemovesItsDataAndFileUrlsButKeepsItsRecord) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1));
  server.start();
  const Api api(server.port());
  const std::string id = submit(api, request_with_validation(1)).at("request_id").get<std::string>();
  wait_until_completed(api, id, server);

  // A delivered job keeps what its result and status show, not its working files.
  for (const char* kept : {"outputs/lora.safetensors", "outputs/config.json", "previews/step_1.mp4",
                           "training/metrics.jsonl", "result.json", "job.log"}) {
    EXPECT_TRUE(fs::exists(job_dir(id) / kept)) << kept;
  }
  for (const char* removed :
       {"dataset", "latents", "prompts", "training/checkpoints", "training/lora.safetensors"}) {
    EXPECT_FALSE(fs::exists(job_dir(id) / removed)) << removed << " outlived the job";
  }
  const json result = body_of(api.get(result_path(id)), "GET result");
  const std::string lora_url =
      result.at("lora_file").at("url").get<std::string>().substr(server.url().size());
  ASSERT_EQ(api.get(lora_url)->status, 200);

  const auto deleted = api.del(result_path(id));
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200) << deleted->body;
  EXPECT_FALSE(fs::exists(job_dir(id))) << "the job's folder is gone";
  EXPECT_EQ(api.get(lora_url)->status, 404) << "its file URLs are revoked";
  const json status = body_of(api.get(status_path(id)), "GET status (deleted)");
  EXPECT_EQ(status.value("outcome", ""), "succeeded") << "the record stays";
  const json usage = body_of(api.get("/usage"), "GET usage");
  EXPECT_EQ(usage.value("succeeded", 0), 1) << usage.dump();
  EXPECT_EQ(usage.value("units", 0), 100) << usage.dump();

  // A job that runs cannot be deleted: cancel it first.
  server.stop();
  ServeProcess busy(dir_.path(), serve_args(/*steps=*/5000));
  busy.start();
  const Api busy_api(busy.port());
  const std::string running = submit(busy_api, request()).at("request_id").get<std::string>();
  const auto refused = busy_api.del(result_path(running));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 409) << refused->body;
  EXPECT_NE(refused->body.find("cancel it first"), std::string::npos) << refused->body;
  busy_api.put(cancel_path(running));
  wait_until_completed(busy_api, running, busy, 60s);
  busy.stop();
}

TEST_F(ServeTest, RetentionDeletesOldJobsDataAndUsageCountsThemStill) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, 1, {"--retention-days", "0.00005"}));  // 4.3 s
  server.start();
  const Api api(server.port());
  const std::string id = submit(api, request()).at("request_id").get<std::string>();
  wait_until_completed(api, id, server);
  ASSERT_TRUE(fs::exists(job_dir(id)));
  server.stop();
  std::this_thread::sleep_for(5s);
  server.start();  // retention is applied at start (then hourly)
  const auto deadline = Clock::now() + 30s;
  while (fs::exists(job_dir(id)) && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(fs::exists(job_dir(id))) << "the job's data outlived its retention";
  const Api again(server.port());
  const json history = body_of(again.get(std::string(kPrefix) + "/requests"), "GET history");
  ASSERT_EQ(history.at("requests").size(), 1u) << history.dump();
  EXPECT_TRUE(history["requests"][0].at("deleted_at").is_string()) << history.dump();
  server.stop();

  // The operator's ledger across keys.
  testing::ChildProcess usage(
      {testing::avtrain_binary().string(), "usage", "--data", data_dir().string(), "--json"}, {},
      dir_ / "usage.out", dir_ / "usage.err");
  ASSERT_EQ(usage.exit_code(), 0) << usage.err();
  const json ledger = json::parse(usage.out());
  ASSERT_EQ(ledger.size(), 1u) << ledger.dump();
  EXPECT_EQ(ledger[0].value("succeeded", 0), 1) << ledger.dump();
  EXPECT_EQ(ledger[0].value("units", 0), 100) << ledger.dump();
  EXPECT_EQ(ledger[0].value("usd", ""), "0.68") << ledger.dump();
  testing::ChildProcess table(
      {testing::avtrain_binary().string(), "usage", "--data", data_dir().string(), "--from", "2999-01-01"},
      {}, dir_ / "table.out", dir_ / "table.err");
  ASSERT_EQ(table.exit_code(), 0) << table.err();
  EXPECT_NE(table.out().find("all keys"), std::string::npos) << table.out();
  EXPECT_EQ(table.out().find("(no key)"), std::string::npos)
      << "nothing finished in the future: " << table.out();
}

TEST_F(ServeTest, AJobLostWithItsServerThreeTimesFailsAsRunnerDisconnected) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/5000));
  server.start();
  const std::string id = submit(Api(server.port()), request()).at("request_id").get<std::string>();
  for (int run = 1; run <= 3; ++run) {
    const auto deadline = Clock::now() + 120s;
    for (;;) {
      const json status = body_of(Api(server.port()).get(status_path(id)), "GET status");
      if (status.value("stage", "") == "training") break;
      ASSERT_NE(status.value("status", ""), "COMPLETED") << "run " << run << ": " << status.dump();
      ASSERT_LT(Clock::now(), deadline) << "run " << run << " never trained: " << server.log();
      std::this_thread::sleep_for(20ms);
    }
    server.stop(SIGKILL);  // the job "killed" its server
    server.start();
  }
  const Api api(server.port());
  const json done = wait_until_completed(api, id, server, 30s);
  EXPECT_EQ(done.value("outcome", ""), "failed") << done.dump();
  const auto result = api.get(result_path(id));
  const json body = body_of(result, "GET result");
  EXPECT_EQ(result->status, 503) << body.dump();
  EXPECT_EQ(body.value("error_type", ""), "runner_disconnected") << body.dump();
  EXPECT_EQ(body.at("billing").value("units", -1), 0) << body.dump();
  EXPECT_NE(body.value("detail", "").find("last 3 runs"), std::string::npos) << body.dump();
  server.stop();
}

// A data folder too small for a job's archive: the job fails at once, before the download, billed 0,
// with an answer that names what it needs and what is free (the CLI test fills the disk mid-training).
TEST_F(ServeTest, AJobThatCannotFitTheDataFolderFailsAtOnceBilledNothing) {
  testing::CappedFolder small(data_dir(), 6);
  if (!small.mounted())
    GTEST_SKIP() << "cannot mount a tmpfs here (not root): no size-capped folder to test with";
  std::string padding(8u << 20, '\0');
  for (size_t at = 0; at < padding.size(); ++at) padding[at] = static_cast<char>((at * 2654435761u) >> 13);
  dataset::testing::ZipBuilder()
      .file("a_start.mp4", read_bytes(files_dir() / "ref.mp4"))
      .file("a_end.mp4", read_bytes(files_dir() / "tgt.mp4"))
      .file("padding.bin", padding)
      .write(files_dir() / "big.zip");
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1));
  server.start();
  const Api api(server.port());
  const std::string id = submit(api, request(file_url("big.zip"))).at("request_id").get<std::string>();
  EXPECT_EQ(wait_until_completed(api, id, server, 60s).value("outcome", ""), "failed");
  const auto result = api.get(result_path(id));
  const json body = body_of(result, "GET result");
  EXPECT_NE(result->status, 200) << body.dump();
  const std::string text = body.dump();
  EXPECT_NE(text.find("not enough disk space for"), std::string::npos) << text;
  EXPECT_NE(text.find("are free"), std::string::npos) << text;
  EXPECT_EQ(text.find(data_dir().string()), std::string::npos) << "a server path in the answer: " << text;
  EXPECT_EQ(body.at("billing").value("units", -1), 0) << text;
  EXPECT_FALSE(fs::exists(job_dir(id) / "dataset")) << "the job went on anyway";
  // The server stays ready for jobs that fit.
  EXPECT_EQ(body_of(api.get("/healthz"), "GET /healthz").value("status", ""), "ok");
  server.stop();
}

TEST_F(ServeTest, KeysCarryLimitsAndAReloadedFileTakesEffect) {
  std::ofstream(dir_ / "keys.txt") << "key-a max_concurrent_jobs=1 max_queued_jobs=1\nkey-b\n";
  ServeProcess server(
      dir_.path(), serve_args(/*steps=*/5000, /*workers=*/2, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();
  const Api a = Api::with_key(server.port(), "key-a");
  const Api b = Api::with_key(server.port(), "key-b");
  const std::string first = submit(a, request()).at("request_id").get<std::string>();
  // max_concurrent_jobs=1: the second job waits although a worker is free.
  const auto deadline = Clock::now() + 60s;
  while (body_of(a.get(status_path(first)), "GET status").value("status", "") != "IN_PROGRESS") {
    ASSERT_LT(Clock::now(), deadline) << server.log();
    std::this_thread::sleep_for(20ms);
  }
  const std::string second = submit(a, request()).at("request_id").get<std::string>();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(body_of(a.get(status_path(second)), "GET status").value("status", ""), "IN_QUEUE")
      << "a key at max_concurrent_jobs had a second job started";
  // max_queued_jobs=1: a third is refused with 429 and Retry-After.
  const auto third = a.post(std::string(kPrefix) + "/av2av", request().dump());
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 429) << third->body;
  EXPECT_FALSE(third->get_header_value("Retry-After").empty());
  EXPECT_NE(third->body.find("max_queued_jobs"), std::string::npos) << third->body;
  // Another key is not held back by them.
  const std::string theirs = submit(b, request()).at("request_id").get<std::string>();
  const auto theirs_deadline = Clock::now() + 60s;
  while (body_of(b.get(status_path(theirs)), "GET status").value("status", "") == "IN_QUEUE") {
    ASSERT_LT(Clock::now(), theirs_deadline) << "key b's job waited behind key a's limit";
    std::this_thread::sleep_for(20ms);
  }

  // key-b removed and the file reloaded on SIGHUP: it loses access; its job is not lost.
  std::ofstream(dir_ / "keys.txt", std::ios::trunc) << "key-a max_concurrent_jobs=1 max_queued_jobs=1\n";
  server.signal(SIGHUP);
  const auto reload_deadline = Clock::now() + 10s;
  while (b.get(status_path(theirs))->status != 401 && Clock::now() < reload_deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(b.get(status_path(theirs))->status, 401) << "a removed key kept access after SIGHUP";
  EXPECT_EQ(a.get(status_path(first))->status, 202) << "the remaining key lost access";
  server.stop();
  EXPECT_TRUE(fs::exists(job_dir(theirs))) << "the removed key's job was lost";
}

TEST_F(ServeTest, HealthReadinessAndMetricsNeedNoKey) {
  std::ofstream(dir_ / "keys.txt") << "key-a\n";
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, 1, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();
  const Api anonymous(server.port());
  const json health = body_of(anonymous.get("/healthz"), "GET healthz");
  EXPECT_EQ(health.value("status", ""), "ok");
  const auto ready = anonymous.get("/readyz");
  const json readiness = body_of(ready, "GET readyz");
  EXPECT_EQ(ready->status, 200) << readiness.dump();
  EXPECT_EQ(readiness.at("checks").value("store", ""), "ok") << readiness.dump();
  EXPECT_EQ(readiness.at("checks").value("workers", ""), "ok") << readiness.dump();
  EXPECT_TRUE(readiness.at("checks").at("free_disk_bytes").is_number()) << readiness.dump();

  const std::string id =
      submit(Api::with_key(server.port(), "key-a"), request()).at("request_id").get<std::string>();
  wait_until_completed(Api::with_key(server.port(), "key-a"), id, server);
  const auto metrics = anonymous.get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  for (const char* line :
       {"avtrain_jobs_waiting 0", "avtrain_jobs{state=\"succeeded\"} 1",
        "avtrain_worker_steps_per_second{worker=\"0\"", "avtrain_worker_device_memory_bytes{worker=\"0\"",
        "avtrain_webhook_deliveries_total{result=\"delivered\"} 0", "# TYPE avtrain_jobs gauge"}) {
    EXPECT_NE(metrics->body.find(line), std::string::npos) << line << "\n" << metrics->body;
  }
  server.stop();

  // A floor above the disk's free space makes the server not ready.
  ServeProcess full(dir_.path(), serve_args(/*steps=*/1, 1, {"--min-free-disk", "1000000TiB"}));
  full.start();
  const auto not_ready = Api(full.port()).get("/readyz");
  const json not_ready_body = body_of(not_ready, "GET readyz (floor)");
  EXPECT_EQ(not_ready->status, 503) << not_ready_body.dump();
  EXPECT_EQ(not_ready_body.at("checks").value("disk", ""), "below the floor") << not_ready_body.dump();
  full.stop();
}

}  // namespace
}  // namespace avtrain::service
