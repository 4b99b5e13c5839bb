// `avtrain serve` end to end (issue 13): the real binary on loopback, driven over HTTP with the tiny
// model at 32x32 and 9 frames. Submit, status (polled and streamed), result and its capability file
// URLs (DECISIONS.md §30), the official JavaScript client unchanged but for its host
// (tests/e2e/fal_client_check.mjs), 422 bodies, cancellation (queued and training, billed 0: §32),
// a kill -9 mid-training and a restart that resumes from the checkpoint, per-key visibility,
// concurrent submissions, webhooks. The hosted conventions are specs/anchors.md §4.1.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <latch>
#include <mutex>

#include "serve_fixture.h"

namespace avtrain::service {
namespace {

using namespace serve_testing;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_F(ServeTest, SubmitPollStreamResultAndDownloadEveryFile) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/2));
  server.start();
  const Api api(server.port());

  json body = request_with_validation(1);
  body["debug_dataset"] = true;
  const json reply = submit(api, body);
  const std::string id = reply.at("request_id").get<std::string>();
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(reply.value("status", ""), "IN_QUEUE") << reply.dump();
  EXPECT_TRUE(reply.contains("queue_position") && reply["queue_position"].is_number_integer())
      << reply.dump();
  const std::string base = server.url() + kPrefix + "/requests/" + id;
  EXPECT_EQ(reply.value("status_url", ""), base + "/status") << reply.dump();
  EXPECT_EQ(reply.value("response_url", ""), base) << reply.dump();
  EXPECT_EQ(reply.value("cancel_url", ""), base + "/cancel") << reply.dump();

  // The event stream of the running job, read while the status is polled.
  std::optional<httplib::Result> streamed;
  std::thread streamer([&] { streamed.emplace(api.get(status_path(id) + "/stream")); });
  std::vector<json> seen;
  const json done = wait_until_completed(api, id, server, 150s, &seen);
  streamer.join();

  for (const auto& status : seen) {
    EXPECT_TRUE(kStates.contains(status.value("status", ""))) << status.dump();
    EXPECT_EQ(status.value("request_id", ""), id) << status.dump();
    EXPECT_TRUE(status.contains("stage")) << status.dump();
    ASSERT_TRUE(status.contains("progress") && status["progress"].is_number()) << status.dump();
    EXPECT_GE(status["progress"].get<double>(), 0.0) << status.dump();
    EXPECT_LE(status["progress"].get<double>(), 1.0) << status.dump();
    if (status["status"] == "IN_QUEUE") {
      EXPECT_TRUE(status.contains("queue_position") && status["queue_position"].is_number_integer())
          << status.dump();
    }
    expect_iso_timestamps(status.at("logs"));
  }
  EXPECT_EQ(done.value("outcome", json()), "succeeded") << done.dump();
  EXPECT_DOUBLE_EQ(done.value("progress", 0.0), 1.0) << done.dump();
  EXPECT_FALSE(done.at("logs").empty()) << "a finished job with ?logs=1 has no log lines";
  EXPECT_EQ(done.value("response_url", ""), base) << done.dump();

  // Interval previews (validation every step): listed as each is written, with capability URLs.
  ASSERT_TRUE(done.contains("previews") && done["previews"].is_array()) << done.dump();
  std::vector<int64_t> preview_steps;
  for (const auto& preview : done["previews"]) {
    preview_steps.push_back(preview.at("step").get<int64_t>());
    const std::string url = preview.at("url").get<std::string>();
    ASSERT_EQ(url.rfind(server.url() + "/files/", 0), 0u) << url;
    const auto file = Api(server.port()).get(url.substr(server.url().size()));  // no key needed
    ASSERT_TRUE(file) << url;
    EXPECT_EQ(file->status, 200) << url;
    EXPECT_EQ(file->body.size(), preview.at("file_size").get<size_t>()) << url;
    EXPECT_EQ(file->get_header_value("Content-Type"), "video/mp4") << url;
  }
  EXPECT_EQ(preview_steps, (std::vector<int64_t>{1, 2})) << done.dump();
  const bool listed_while_running = std::any_of(seen.begin(), seen.end(), [](const json& status) {
    return status.value("status", "") == "IN_PROGRESS" && !status.value("previews", json::array()).empty();
  });
  EXPECT_TRUE(listed_while_running) << "no status of the running job listed the step 1 preview";

  // Without ?logs=1 (the JS client sends logs=0) no log lines.
  for (const std::string query : {"", "?logs=0"}) {
    const json quiet = body_of(api.get(status_path(id) + query), "GET status" + query);
    EXPECT_EQ(quiet.value("status", ""), "COMPLETED");
    EXPECT_TRUE(!quiet.contains("logs") || quiet["logs"].is_null())
        << "logs without ?logs=1: " << quiet.dump();
  }
  // The same request under /v1.
  const json v1 = body_of(api.get("/v1/requests/" + id + "/status"), "GET /v1/requests/{id}/status");
  EXPECT_EQ(v1.value("status", ""), "COMPLETED") << v1.dump();

  // The stream: text/event-stream, `data: <status>` events, closed right after COMPLETED.
  const httplib::Result& stream_result = *streamed;
  ASSERT_TRUE(stream_result) << "GET status/stream: " << httplib::to_string(stream_result.error());
  EXPECT_EQ(stream_result->status, 200);
  EXPECT_EQ(stream_result->get_header_value("Content-Type").rfind("text/event-stream", 0), 0u)
      << stream_result->get_header_value("Content-Type");
  const auto events = parse_events(stream_result->body);
  ASSERT_FALSE(events.empty()) << stream_result->body;
  for (const auto& event : events) EXPECT_TRUE(kStates.contains(event.value("status", ""))) << event.dump();
  EXPECT_EQ(events.back().value("status", ""), "COMPLETED") << stream_result->body;
  EXPECT_EQ(events.back().value("outcome", json()), "succeeded") << stream_result->body;
  // A stream opened after completion gives the final status and ends.
  const auto late = api.get(status_path(id) + "/stream");
  ASSERT_TRUE(late);
  const auto late_events = parse_events(late->body);
  ASSERT_FALSE(late_events.empty()) << late->body;
  EXPECT_EQ(late_events.back().value("status", ""), "COMPLETED");

  const auto result = api.get(result_path(id));
  const json output = body_of(result, "GET result");
  ASSERT_EQ(result->status, 200) << output.dump();
  EXPECT_EQ(output.at("billing").at("units").get<int64_t>(), 100) << output.dump();  // max(100, steps) (§32)
  EXPECT_EQ(output.at("billing").at("cost_usd").get<std::string>(), "0.68");
  expect_downloadable(output.at("lora_file"), server.url(), "application/octet-stream");
  expect_downloadable(output.at("config_file"), server.url(), "application/json");
  // config_file states what training used: the server's --demo-* sizes, with the request beside
  // (DECISIONS.md §35).
  const std::string config_url = output.at("config_file").at("url").get<std::string>();
  const json config = body_of(api.get(config_url.substr(server.url().size())), "GET config_file");
  EXPECT_EQ(config.value("width", 0), 32) << config.dump();
  EXPECT_EQ(config.value("height", 0), 32) << config.dump();
  EXPECT_EQ(config.value("number_of_frames", 0), 9) << config.dump();
  EXPECT_EQ(config.value("steps", 0), 2) << config.dump();
  EXPECT_EQ(config.at("request").value("number_of_steps", 0), 100) << config.dump();
  expect_downloadable(output.at("video"), server.url(), "video/mp4");
  expect_downloadable(output.at("debug_dataset"), server.url(), "application/zip");

  const auto unknown = api.get(status_path("00000000-0000-0000-0000-000000000000"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << "status of an unknown request";
  server.stop();
}

TEST_F(ServeTest, OfficialJavaScriptClientWorksWithOnlyItsHostChanged) {
  const fs::path npm_dir = AVTRAIN_NPM_DIR;
  const fs::path script = fs::path(AVTRAIN_SOURCE_DIR) / "tests" / "e2e" / "fal_client_check.mjs";
  if (!fs::exists(npm_dir / "@fal-ai" / "client" / "package.json") ||
      std::system("node --version > /dev/null 2>&1")) {
    if (std::getenv("CI"))
      FAIL() << "node or " << npm_dir << "/@fal-ai/client missing (scripts/install-deps.sh)";
    GTEST_SKIP() << "node or " << npm_dir << "/@fal-ai/client missing (scripts/install-deps.sh)";
  }
  std::ofstream(dir_ / "keys.txt") << "js-key\n";
  ServeProcess server(dir_.path(), serve_args(/*steps=*/2, 1, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();

  testing::ChildProcess node({"node", script.string()},
                             {{"FAL_CLIENT_NPM_DIR", npm_dir.string()},
                              {"AVTRAIN_URL", server.url()},
                              {"FAL_KEY", "js-key"},
                              {"TRAINING_DATA_URL", file_url("clips.zip")}},
                             dir_ / "node.out", dir_ / "node.err");
  auto status = node.wait_for(170s);
  if (!status) {
    node.send(SIGKILL);
    status = node.wait_for(10s);
    ADD_FAILURE() << "fal_client_check.mjs did not finish in 170 s";
  }
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "fal_client_check.mjs: " << (status ? testing::describe_exit(*status) : "killed")
      << "\nstdout: " << node.out() << "\nstderr: " << tail(node.err())
      << "\nserver stderr: " << server.log();
  server.stop();
}

TEST_F(ServeTest, InvalidRequestsGet422WithTheFieldAndNothingIsQueued) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/2));
  server.start();
  const Api api(server.port());

  struct Case {
    std::string name;
    json body;
    std::string field;
  };
  json word_for_a_number = request();
  word_for_a_number["number_of_steps"] = "many";  // lax parsing reads "200", not this
  json bad_rank = request();
  bad_rank["rank"] = 7;
  const std::vector<Case> cases = {
      {"a word for a number", word_for_a_number, "number_of_steps"},
      {"rank 7", bad_rank, "rank"},
      {"local file outside --allow-local-files", request("file:///etc/hostname"), "training_data_url"},
  };
  for (const auto& c : cases) {
    const auto result = api.post(std::string(kPrefix) + "/av2av", c.body.dump());
    const json reply = body_of(result, "POST av2av (" + c.name + ")");
    EXPECT_EQ(result->status, 422) << c.name << ": " << reply.dump();
    ASSERT_TRUE(reply.contains("detail") && reply["detail"].is_array() && !reply["detail"].empty())
        << c.name << ": " << reply.dump();
    bool named = false;
    for (const auto& problem : reply["detail"]) {
      EXPECT_TRUE(problem.contains("msg") && problem.contains("type")) << c.name << ": " << problem.dump();
      if (problem.value("loc", json()) == json::array({"body", c.field})) named = true;
    }
    EXPECT_TRUE(named) << c.name << ": no problem with loc [body, " << c.field << "]: " << reply.dump();
    EXPECT_FALSE(reply.contains("request_id")) << c.name;
  }
  // Nothing was queued: no job folder, and the next valid request is first in line.
  std::error_code ignored;
  EXPECT_TRUE(!fs::exists(data_dir() / "jobs") || fs::is_empty(data_dir() / "jobs", ignored));
  const json reply = submit(api, request());
  EXPECT_EQ(reply.value("queue_position", -1), 0) << reply.dump();
  server.stop();
}

TEST_F(ServeTest, CancellingAQueuedJobFinishesItCancelledWithoutRunningIt) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/5000));  // the first job holds the only worker
  server.start();
  const Api api(server.port());

  const std::string first = submit(api, request()).at("request_id").get<std::string>();
  const std::string second = submit(api, request()).at("request_id").get<std::string>();
  const json queued = body_of(api.get(status_path(second)), "GET status");
  EXPECT_EQ(queued.value("status", ""), "IN_QUEUE") << queued.dump();

  const auto cancel = api.put(cancel_path(second));
  const json cancel_reply = body_of(cancel, "PUT cancel (queued)");
  EXPECT_EQ(cancel->status, 202) << cancel_reply.dump();
  EXPECT_EQ(cancel_reply.value("status", ""), "CANCELLATION_REQUESTED") << cancel_reply.dump();

  const json done = wait_until_completed(api, second, server, 20s);
  EXPECT_EQ(done.value("outcome", json()), "cancelled") << done.dump();
  const auto result = api.get(result_path(second));
  const json error = body_of(result, "GET result (cancelled while queued)");
  EXPECT_GE(result->status, 400) << error.dump();
  EXPECT_EQ(error.at("billing").at("units").get<int64_t>(), 0) << error.dump();  // DECISIONS.md §32
  EXPECT_FALSE(fs::exists(job_dir(second) / "training")) << "the cancelled queued job was run";

  const auto again = api.put(cancel_path(second));
  const json again_reply = body_of(again, "PUT cancel (done)");
  EXPECT_EQ(again->status, 400) << again_reply.dump();
  EXPECT_EQ(again_reply.value("status", ""), "ALREADY_COMPLETED") << again_reply.dump();
  const auto unknown = api.put(cancel_path("00000000-0000-0000-0000-000000000000"));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << "cancel of an unknown request";

  const json first_status = body_of(api.get(status_path(first)), "GET status (first)");
  EXPECT_NE(first_status.value("status", ""), "COMPLETED")
      << "the first job was disturbed: " << first_status.dump();
  server.stop();
}

TEST_F(ServeTest, CancellingDuringTrainingStopsTheJobBilledZeroWithTheErrorBodyAsResult) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/5000));
  server.start();
  const Api api(server.port());
  const std::string id = submit(api, request()).at("request_id").get<std::string>();

  const auto deadline = Clock::now() + 120s;
  json status;
  for (;;) {
    status = body_of(api.get(status_path(id)), "GET status");
    if (status.value("status", "") == "IN_PROGRESS" && status.value("stage", json()) == "training") break;
    ASSERT_NE(status.value("status", ""), "COMPLETED") << "finished before training: " << status.dump();
    ASSERT_LT(Clock::now(), deadline)
        << "never reached the training stage: " << status.dump() << server.log();
    std::this_thread::sleep_for(50ms);
  }
  const auto cancel = api.put(cancel_path(id));
  const json cancel_reply = body_of(cancel, "PUT cancel (training)");
  EXPECT_EQ(cancel->status, 202) << cancel_reply.dump();
  EXPECT_EQ(cancel_reply.value("status", ""), "CANCELLATION_REQUESTED") << cancel_reply.dump();

  const auto cancelled_at = Clock::now();
  const json done = wait_until_completed(api, id, server, 60s);
  EXPECT_LT(Clock::now() - cancelled_at, 30s) << "cancellation took long";
  EXPECT_EQ(done.value("outcome", json()), "cancelled") << done.dump();
  const auto result = api.get(result_path(id));
  const json error = body_of(result, "GET result (cancelled while training)");
  EXPECT_GE(result->status, 400) << error.dump();
  EXPECT_TRUE(error.contains("detail")) << error.dump();
  EXPECT_EQ(error.at("billing").at("units").get<int64_t>(), 0) << error.dump();  // DECISIONS.md §32
  EXPECT_EQ(error.at("billing").at("cost_usd").get<std::string>(), "0.00") << error.dump();
  server.stop();
}

TEST_F(ServeTest, AJobInterruptedByKill9ResumesFromItsCheckpointAfterARestart) {
  constexpr int kSteps = 20;
  constexpr int kInterval = 10;  // validation every 10 steps: a checkpoint every gcd(250, 10) steps
  ServeProcess server(dir_.path(), serve_args(kSteps));
  server.start();
  const std::string id =
      submit(Api(server.port()), request_with_validation(kInterval)).at("request_id").get<std::string>();

  const fs::path checkpoint = job_dir(id) / "training" / "checkpoints" / "step_000010";
  const auto deadline = Clock::now() + 150s;
  while (!fs::exists(checkpoint)) {
    ASSERT_LT(Clock::now(), deadline)
        << "no checkpoint " << checkpoint << "; server stderr: " << server.log();
    std::this_thread::sleep_for(10ms);
  }
  server.stop(SIGKILL);
  ASSERT_FALSE(fs::exists(job_dir(id) / "result.json")) << "the job finished before the kill; make it longer";

  server.start();  // the same --data
  const Api api(server.port());
  const json done = wait_until_completed(api, id, server);
  EXPECT_EQ(done.value("outcome", json()), "succeeded") << done.dump();
  const auto result = api.get(result_path(id));
  EXPECT_EQ(body_of(result, "GET result").at("lora_file").at("file_name"), "lora.safetensors");

  // The job's log: the run after the restart trained only the steps after a checkpoint.
  const std::string log = read_bytes(job_dir(id) / "job.log");
  const std::regex trained(R"(trained steps (\d+)\.\.(\d+))");
  std::smatch last;
  for (std::sregex_iterator it(log.begin(), log.end(), trained), end; it != end; ++it) last = *it;
  ASSERT_FALSE(last.empty()) << "no 'trained steps' line in job.log: " << tail(log);
  EXPECT_GT(std::stoi(last[1].str()), kInterval)
      << "the restarted job did not resume from step 10: " << tail(log);
  EXPECT_EQ(last[2].str(), std::to_string(kSteps)) << tail(log);

  // Every step exactly once in the metrics: those after the checkpoint were dropped and redone.
  std::ifstream metrics(job_dir(id) / "training" / "metrics.jsonl");
  std::vector<int64_t> steps;
  for (std::string line; std::getline(metrics, line);) {
    if (!line.empty()) steps.push_back(json::parse(line).at("step").get<int64_t>());
  }
  std::vector<int64_t> expected(kSteps);
  for (int step = 0; step < kSteps; ++step) expected[step] = step + 1;
  EXPECT_EQ(steps, expected);
  server.stop();
}

TEST_F(ServeTest, AJobIsVisibleOnlyToTheKeyThatSubmittedIt) {
  std::ofstream(dir_ / "keys.txt") << "key-a\nkey-b\n";
  ServeProcess server(dir_.path(), serve_args(/*steps=*/2, 1, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();
  const Api owner = Api::with_key(server.port(), "key-a");
  const Api other = Api::with_key(server.port(), "key-b");

  for (const auto& [what, api] :
       {std::pair{"no key", Api(server.port())}, {"unknown key", Api::with_key(server.port(), "key-c")}}) {
    const auto refused = api.post(std::string(kPrefix) + "/av2av", request().dump());
    ASSERT_TRUE(refused) << what;
    EXPECT_EQ(refused->status, 401) << what << ": " << refused->body;
  }
  const std::string id = submit(owner, request()).at("request_id").get<std::string>();
  const auto bearer = Api(server.port(), "Bearer key-a").get(status_path(id));
  ASSERT_TRUE(bearer);
  EXPECT_TRUE(bearer->status == 200 || bearer->status == 202) << "Authorization: Bearer <key>: " << bearer->body;
  const auto anonymous = Api(server.port()).get(status_path(id));
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401) << "status without a key";

  const auto expect_404 = [](const std::string& what, const httplib::Result& result) {
    ASSERT_TRUE(result) << what;
    EXPECT_EQ(result->status, 404) << "another key's " << what << ": " << result->body;
  };
  expect_404("status", other.get(status_path(id)));
  expect_404("stream", other.get(status_path(id) + "/stream"));
  expect_404("result", other.get(result_path(id)));
  expect_404("cancel", other.put(cancel_path(id)));

  const json done = wait_until_completed(owner, id, server);
  EXPECT_EQ(done.value("outcome", json()), "succeeded")
      << "the other key's cancel reached the job: " << done.dump();
  const json output = body_of(owner.get(result_path(id)), "GET result");
  expect_downloadable(output.at("lora_file"), server.url(), "application/octet-stream");  // no key needed
  server.stop();
}

TEST_F(ServeTest, TwentyConcurrentSubmissionsAreAllQueuedAndCompleted) {
  constexpr int kJobs = 20;
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, /*workers=*/2));
  server.start();
  const Api api(server.port());

  std::vector<std::string> ids(kJobs);
  std::vector<std::string> errors(kJobs);
  std::latch ready(kJobs);
  std::vector<std::thread> threads;
  for (int i = 0; i < kJobs; ++i) {
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      try {
        ids[i] = submit(api, request()).at("request_id").get<std::string>();
      } catch (const std::exception& error) {
        errors[i] = error.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::string failures;
  for (int i = 0; i < kJobs; ++i) {
    if (!errors[i].empty()) failures += "submission " + std::to_string(i) + ": " + errors[i] + "\n";
  }
  ASSERT_TRUE(failures.empty()) << failures << "server stderr: " << server.log();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), static_cast<size_t>(kJobs))
      << "request ids repeat";

  for (const auto& id : ids) {
    const json done = wait_until_completed(api, id, server, 170s);
    EXPECT_EQ(done.value("outcome", json()), "succeeded") << id << ": " << done.dump();
    EXPECT_TRUE(fs::exists(job_dir(id) / "result.json")) << id;
  }
  server.stop();
}

TEST_F(ServeTest, WebhooksReportSuccessAndFailure) {
  // The test's own HTTP server: the dataset over HTTP (a download from loopback, allowed by
  // --allow-private-network) and the webhook receiver, which dedupes on request_id (deliveries may repeat).
  const std::string archive = read_bytes(files_dir() / "clips.zip");
  std::mutex mutex;
  std::map<std::string, json> hooks;
  std::vector<std::string> hook_problems;
  httplib::Server receiver;
  receiver.Get("/clips.zip", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(archive, "application/zip");
  });
  receiver.Get("/broken.zip", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content("this is not a zip archive", "application/zip");
  });
  receiver.Post("/hook", [&](const httplib::Request& request, httplib::Response& response) {
    std::lock_guard lock(mutex);
    try {
      const json body = json::parse(request.body);
      if (request.get_header_value("Content-Type").find("application/json") == std::string::npos) {
        hook_problems.push_back("webhook Content-Type " + request.get_header_value("Content-Type"));
      }
      if (request.get_param_value("tag").empty()) hook_problems.push_back("webhook URL lost its query");
      hooks[body.at("request_id").get<std::string>()] = body;
    } catch (const std::exception& error) {
      hook_problems.push_back(std::string("webhook body: ") + error.what() + ": " + request.body);
    }
    response.set_content("{}", "application/json");
  });
  const int hook_port = receiver.bind_to_any_port("127.0.0.1");
  ASSERT_GT(hook_port, 0);
  std::thread receiver_thread([&] { receiver.listen_after_bind(); });
  const std::string origin = "http://127.0.0.1:" + std::to_string(hook_port);

  ServeProcess server(dir_.path(), serve_args(/*steps=*/2));
  server.start();
  const Api api(server.port());
  const std::string good =
      submit(api, request(origin + "/clips.zip"),
             "?fal_webhook=" + httplib::detail::encode_query_param(origin + "/hook?tag=ok"))
          .at("request_id")
          .get<std::string>();
  const std::string bad =
      submit(api, request(origin + "/broken.zip"),
             "?fal_webhook=" + httplib::detail::encode_query_param(origin + "/hook?tag=err"))
          .at("request_id")
          .get<std::string>();
  EXPECT_EQ(wait_until_completed(api, good, server).value("outcome", json()), "succeeded");
  EXPECT_EQ(wait_until_completed(api, bad, server).value("outcome", json()), "failed");

  const auto deadline = Clock::now() + 30s;
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (hooks.contains(good) && hooks.contains(bad)) break;
    }
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(50ms);
  }
  receiver.stop();
  receiver_thread.join();

  EXPECT_TRUE(hook_problems.empty()) << hook_problems.front();
  ASSERT_TRUE(hooks.contains(good)) << "no webhook for the succeeded job; server stderr: " << server.log();
  ASSERT_TRUE(hooks.contains(bad)) << "no webhook for the failed job; server stderr: " << server.log();
  const json ok = hooks[good];
  EXPECT_EQ(ok.value("status", ""), "OK") << ok.dump();
  EXPECT_TRUE(ok.contains("gateway_request_id")) << ok.dump();
  EXPECT_TRUE(ok.value("error", json()).is_null()) << ok.dump();
  EXPECT_EQ(ok.value("payload", json()), body_of(api.get(result_path(good)), "GET result")) << ok.dump();
  const json error = hooks[bad];
  EXPECT_EQ(error.value("status", ""), "ERROR") << error.dump();
  EXPECT_FALSE(error.value("error", json()).is_null()) << error.dump();

  const auto failed = api.get(result_path(bad));
  const json failure = body_of(failed, "GET result (bad archive)");
  EXPECT_EQ(failed->status, 422) << failure.dump();
  EXPECT_EQ(failure.at("detail").at(0).at("loc"), json::array({"body", "training_data_url"}))
      << failure.dump();
  EXPECT_EQ(failure.at("billing").at("units").get<int64_t>(), 0);
  server.stop();
}

}  // namespace
}  // namespace avtrain::service
