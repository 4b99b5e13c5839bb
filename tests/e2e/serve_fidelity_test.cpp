// Drop-in fidelity of `avtrain serve` (issue 24), end to end through real HTTP with the tiny model:
// webhooks signed as the hosted service signs them, verified by an independent verifier (Node's crypto)
// across a key rotation; uploads through the official client's storage routes (single-part and
// multipart) and their per-key ownership; the queue's conventions (start timeout, no retry, error types,
// status codes) with the official client; lax request parsing with its notes; every validation input
// checked before the expensive stages; an audio-only reference audio with auto_scale_input.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <sstream>

#include "serve_fixture.h"

namespace avtrain::service {
namespace {

using namespace serve_testing;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A loopback HTTP server of the test's own: a webhook receiver that keeps each delivery's headers and
// raw body in a folder of its own (deliveries/<n>/headers.json, body), and a dataset download that takes
// as long as the test likes.
class TestReceiver {
 public:
  explicit TestReceiver(fs::path dir) : dir_(std::move(dir)) {
    server_.Post("/hook", [this](const httplib::Request& request, httplib::Response& response) {
      const std::lock_guard lock(mutex_);
      const fs::path delivery = dir_ / "deliveries" / std::to_string(deliveries_.size());
      fs::create_directories(delivery);
      json headers = json::object();
      for (const auto& [name, value] : request.headers) {
        std::string lower = name;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        headers[lower] = value;
      }
      std::ofstream(delivery / "headers.json") << headers.dump();
      std::ofstream(delivery / "body", std::ios::binary) << request.body;
      deliveries_.push_back({delivery, json::parse(request.body), headers});
      response.set_content("{}", "application/json");
    });
    server_.Get("/slow.zip", [this](const httplib::Request&, httplib::Response& response) {
      for (int tick = 0; tick < 600 && !stopping_; ++tick) std::this_thread::sleep_for(100ms);
      response.set_content("not reached", "application/zip");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~TestReceiver() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }

  struct Delivery {
    fs::path dir;
    json body;
    json headers;
  };
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // The delivery for `request_id`, waiting up to `timeout` for it.
  std::optional<Delivery> delivery_of(const std::string& request_id, std::chrono::seconds timeout = 30s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      {
        const std::lock_guard lock(mutex_);
        for (const auto& delivery : deliveries_) {
          if (delivery.body.value("request_id", "") == request_id) return delivery;
        }
      }
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(50ms);
    }
  }

 private:
  fs::path dir_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::vector<Delivery> deliveries_;
  std::atomic<bool> stopping_{false};
};

// The problem of a 422 body at `loc`, or null.
json problem_at(const json& body, const json& loc) {
  for (const auto& problem : body.value("detail", json::array())) {
    if (problem.value("loc", json()) == loc) return problem;
  }
  return nullptr;
}

TEST_F(ServeTest, WebhooksAreSignedAndVerifyWithNodeCryptoAcrossAKeyRotation) {
  const fs::path npm_dir = npm_dir_or_skip();
  if (npm_dir.empty()) GTEST_SKIP() << "node or the npm test data is missing (scripts/install-deps.sh)";
  TestReceiver receiver(dir_.path());
  std::ofstream(dir_ / "keys.txt") << "hook-key\n";
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, 1, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();
  const Api api = Api::with_key(server.port(), "hook-key");

  // The key file: made on first start, readable by the server's user only.
  struct stat info {};
  ASSERT_EQ(::stat((data_dir() / "webhook_keys.json").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const json jwks_before = body_of(Api(server.port()).get("/.well-known/jwks.json"), "GET jwks (no key)");
  ASSERT_EQ(jwks_before.at("keys").size(), 1u) << jwks_before.dump();

  const std::string hook = "?fal_webhook=" + httplib::detail::encode_query_param(receiver.url("/hook"));
  const std::string first = submit(api, request(), hook).at("request_id").get<std::string>();
  wait_until_completed(api, first, server);
  const auto first_delivery = receiver.delivery_of(first);
  ASSERT_TRUE(first_delivery) << "no webhook for " << first << "; server stderr: " << server.log();

  // Rotated while the server runs: the next webhook is signed with the new key, the old one stays published.
  testing::ChildProcess rotate({testing::avtrain_binary().string(), "webhook-keys", "rotate", "--data",
                                data_dir().string(), "--grace-hours", "1"},
                               {}, dir_ / "rotate.out", dir_ / "rotate.err");
  rotate.wait();
  ASSERT_EQ(rotate.exit_code(), 0) << rotate.err();
  const json rotated = json::parse(rotate.out());
  const std::string second = submit(api, request(), hook).at("request_id").get<std::string>();
  wait_until_completed(api, second, server);
  const auto second_delivery = receiver.delivery_of(second);
  ASSERT_TRUE(second_delivery) << "no webhook for " << second;
  const json jwks_after = body_of(Api(server.port()).get("/.well-known/jwks.json"), "GET jwks");
  ASSERT_EQ(jwks_after.at("keys").size(), 2u) << jwks_after.dump();
  EXPECT_EQ(jwks_after["keys"][0].value("kid", ""), rotated.value("signing_key", "")) << jwks_after.dump();

  // The user id is the submitting key's stable identity, the same for both jobs, and not the key.
  const std::string user = first_delivery->headers.value("x-fal-webhook-user-id", "");
  EXPECT_EQ(user.size(), 4u + 64u) << user;
  EXPECT_EQ(second_delivery->headers.value("x-fal-webhook-user-id", ""), user);
  EXPECT_EQ(user.find("hook-key"), std::string::npos);
  EXPECT_EQ(first_delivery->headers.value("x-fal-webhook-request-id", ""), first);

  testing::ChildProcess verify(
      {"node", (fs::path(AVTRAIN_SOURCE_DIR) / "tests/e2e/webhook_verify.mjs").string(),
       server.url() + "/.well-known/jwks.json", first_delivery->dir.string(), second_delivery->dir.string()},
      {}, dir_ / "verify.out", dir_ / "verify.err");
  verify.wait();
  ASSERT_EQ(verify.exit_code(), 0) << verify.err();
  std::istringstream lines(verify.out());
  int checked = 0;
  for (std::string line; std::getline(lines, line);) {
    const json result = json::parse(line);
    EXPECT_TRUE(result.value("valid", false)) << line;
    EXPECT_TRUE(result.value("fresh", false)) << line;
    EXPECT_FALSE(result.value("changed_body", true)) << line;
    EXPECT_FALSE(result.value("changed_timestamp", true)) << line;
    EXPECT_FALSE(result.value("other_key", true)) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 2) << verify.out();
  server.stop();
}

TEST_F(ServeTest, TheOfficialClientUploadsFilesSingleAndMultipartAndTheServerReadsThemFromItsStore) {
  const fs::path npm_dir = npm_dir_or_skip();
  if (npm_dir.empty()) GTEST_SKIP() << "node or the npm test data is missing (scripts/install-deps.sh)";
  // Over 90 MiB: the client switches to its multipart upload. Random bytes do not compress.
  std::string padding(91u << 20, '\0');
  uint64_t state = 88172645463325252ull;
  for (size_t at = 0; at + 8 <= padding.size(); at += 8) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    std::memcpy(padding.data() + at, &state, 8);
  }
  dataset::testing::ZipBuilder()
      .file("a_start.mp4", read_bytes(files_dir() / "ref.mp4"))
      .file("a_end.mp4", read_bytes(files_dir() / "tgt.mp4"))
      .file("padding.bin", padding)
      .write(files_dir() / "big.zip");
  padding.clear();
  ASSERT_GT(fs::file_size(files_dir() / "big.zip"), uint64_t{90} << 20);

  std::ofstream(dir_ / "keys.txt") << "upload-key\n";
  // Neither --allow-local-files nor --allow-private-network: uploads are read from the server's store.
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, 1, {"--api-keys", (dir_ / "keys.txt").string()},
                                              /*local_access=*/false));
  server.start();
  run_node_script(dir_.path(), "fal_client_upload_check.mjs",
                  {{"FAL_CLIENT_NPM_DIR", npm_dir.string()},
                   {"AVTRAIN_URL", server.url()},
                   {"FAL_KEY", "upload-key"},
                   {"ZIP_PATH", (files_dir() / "clips.zip").string()},
                   {"BIG_ZIP_PATH", (files_dir() / "big.zip").string()},
                   {"CLIP_PATH", (files_dir() / "ref.mp4").string()}},
                  280s, server.log());
  server.stop();
}

TEST_F(ServeTest, AnUploadBelongsToItsKeyAndMustBeCompleteToBeNamed) {
  std::ofstream(dir_ / "keys.txt") << "key-a\nkey-b\n";
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, 1, {"--api-keys", (dir_ / "keys.txt").string()},
                                              /*local_access=*/false));
  server.start();
  const Api owner = Api::with_key(server.port(), "key-a");
  const Api other = Api::with_key(server.port(), "key-b");
  httplib::Client plain("127.0.0.1", server.port());

  const auto anonymous =
      plain.Post("/storage/upload/initiate", R"({"file_name": "clips.zip"})", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401) << "initiating an upload needs a key";
  const json initiated =
      body_of(owner.post("/storage/upload/initiate",
                         R"({"content_type": "application/zip", "file_name": "clips.zip"})"),
              "POST initiate");
  const std::string upload_path = initiated.at("upload_url").get<std::string>().substr(server.url().size());
  const std::string file_url = initiated.at("file_url").get<std::string>();

  json body = request(file_url);
  const auto early = owner.post(std::string(kPrefix) + "/av2av", body.dump());
  const json early_body = body_of(early, "POST av2av (upload not complete)");
  EXPECT_EQ(early->status, 422) << early_body.dump();
  EXPECT_FALSE(problem_at(early_body, {"body", "training_data_url"}).is_null()) << early_body.dump();

  const auto put = plain.Put(upload_path, read_bytes(files_dir() / "clips.zip"), "application/zip");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200) << put->body;
  // The file URL is a capability: it downloads without a key.
  const auto download = plain.Get(file_url.substr(server.url().size()));
  ASSERT_TRUE(download);
  EXPECT_EQ(download->status, 200);
  EXPECT_EQ(download->body, read_bytes(files_dir() / "clips.zip"));

  const auto stolen = other.post(std::string(kPrefix) + "/av2av", body.dump());
  const json stolen_body = body_of(stolen, "POST av2av (another key's upload)");
  EXPECT_EQ(stolen->status, 422) << stolen_body.dump();
  const json problem = problem_at(stolen_body, {"body", "training_data_url"});
  ASSERT_FALSE(problem.is_null()) << stolen_body.dump();
  EXPECT_NE(problem.value("msg", "").find("did not make"), std::string::npos) << problem.dump();
  EXPECT_EQ(stolen_body.dump().find(data_dir().string()), std::string::npos) << "a server path in the answer";

  const std::string id = submit(owner, body).at("request_id").get<std::string>();
  EXPECT_EQ(wait_until_completed(owner, id, server).value("outcome", json()), "succeeded");
  server.stop();
}

TEST_F(ServeTest, TheQueuesConventionsHoldForTheOfficialClient) {
  const fs::path npm_dir = npm_dir_or_skip();
  if (npm_dir.empty()) GTEST_SKIP() << "node or the npm test data is missing (scripts/install-deps.sh)";
  TestReceiver slow(dir_.path());
  std::ofstream(dir_ / "keys.txt") << "queue-key\n";
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1, 1, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();
  run_node_script(dir_.path(), "fal_client_queue_check.mjs",
                  {{"FAL_CLIENT_NPM_DIR", npm_dir.string()},
                   {"AVTRAIN_URL", server.url()},
                   {"FAL_KEY", "queue-key"},
                   {"SLOW_DATA_URL", slow.url("/slow.zip")},
                   {"TRAINING_DATA_URL", file_url("clips.zip")}},
                  150s, server.log());

  // The same through plain HTTP: a malformed timeout is a 400 bad_request; a timed-out result names
  // its type in X-Fal-Error-Type.
  const Api api = Api::with_key(server.port(), "queue-key");
  httplib::Client client("127.0.0.1", server.port());
  const auto malformed = client.Post(std::string(kPrefix) + "/av2av",
                                     {{"Authorization", "Key queue-key"}, {"X-Fal-Request-Timeout", "soon"}},
                                     request().dump(), "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400) << malformed->body;
  EXPECT_EQ(malformed->get_header_value("X-Fal-Error-Type"), "bad_request");
  const auto timed = client.Post(std::string(kPrefix) + "/av2av",
                                 {{"Authorization", "Key queue-key"}, {"X-Fal-Request-Timeout", "0.001"}},
                                 request().dump(), "application/json");
  const std::string id = body_of(timed, "POST av2av (timeout)").at("request_id").get<std::string>();
  const json done = wait_until_completed(api, id, server, 30s);
  EXPECT_EQ(done.value("outcome", json()), "failed") << done.dump();
  const auto result = api.get(result_path(id));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 504) << result->body;
  EXPECT_EQ(result->get_header_value("X-Fal-Error-Type"), "request_timeout");
  EXPECT_EQ(result->get_header_value("X-Fal-Request-Timeout-Type"), "user");
  server.stop();
}

TEST_F(ServeTest, ANoRetryJobLostWithItsServerFailsAsRunnerDisconnected) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/5000));
  server.start();
  httplib::Client client("127.0.0.1", server.port());
  const auto submitted = client.Post(std::string(kPrefix) + "/av2av", {{"x-fal-no-retry", "1"}},
                                     request().dump(), "application/json");
  const std::string id = body_of(submitted, "POST av2av (no retry)").at("request_id").get<std::string>();
  const auto deadline = Clock::now() + 120s;
  while (!fs::exists(job_dir(id) / "training")) {
    ASSERT_LT(Clock::now(), deadline) << "never reached training; server stderr: " << server.log();
    std::this_thread::sleep_for(20ms);
  }
  server.stop(SIGKILL);
  server.start();
  const Api api(server.port());
  const json done = wait_until_completed(api, id, server, 30s);
  EXPECT_EQ(done.value("outcome", json()), "failed") << done.dump();
  const auto result = api.get(result_path(id));
  const json body = body_of(result, "GET result (lost)");
  EXPECT_EQ(result->status, 503) << body.dump();
  EXPECT_EQ(result->get_header_value("X-Fal-Error-Type"), "runner_disconnected");
  EXPECT_EQ(body.value("error_type", ""), "runner_disconnected") << body.dump();
  EXPECT_EQ(body.at("billing").at("units"), 0) << body.dump();
  server.stop();
}

TEST_F(ServeTest, LaxRequestsAreAcceptedAndWhatWasIgnoredOrReadIsInTheNotes) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1));
  server.start();
  const Api api(server.port());
  json body = request();
  body["number_of_steps"] = "100";
  body["rnak"] = 16;
  body["audio_normalize"] = "off";
  const json reply = submit(api, body);
  const auto has = [](const json& notes, const std::string& note) {
    return std::find(notes.begin(), notes.end(), json(note)) != notes.end();
  };
  const json notes = reply.value("notes", json::array());
  EXPECT_TRUE(has(notes, "unknown field rnak was ignored: did you mean rank?")) << reply.dump();
  EXPECT_TRUE(has(notes, "number_of_steps: the string \"100\" was read as 100")) << reply.dump();
  EXPECT_TRUE(has(notes, "audio_normalize: the string \"off\" was read as false")) << reply.dump();
  const json done = wait_until_completed(api, reply.at("request_id").get<std::string>(), server);
  EXPECT_EQ(done.value("outcome", json()), "succeeded") << done.dump();
  EXPECT_EQ(done.value("notes", json()), notes) << "the status carries the same notes";
  server.stop();

  // `avtrain validate --strict` keeps the first wave's refusals; plain validate reads as the server does.
  std::ofstream(dir_ / "lax.json") << body.dump();
  testing::ChildProcess lax({testing::avtrain_binary().string(), "validate", (dir_ / "lax.json").string()},
                            {}, dir_ / "lax.out", dir_ / "lax.err");
  lax.wait();
  EXPECT_EQ(lax.exit_code(), 0) << lax.out() << lax.err();
  testing::ChildProcess strict(
      {testing::avtrain_binary().string(), "validate", "--strict", (dir_ / "lax.json").string()}, {},
      dir_ / "strict.out", dir_ / "strict.err");
  strict.wait();
  EXPECT_EQ(strict.exit_code(), 2) << strict.out() << strict.err();
  const json refused = json::parse(strict.out());
  EXPECT_EQ(problem_at(refused, {"body", "rnak"}).value("type", ""), "extra_forbidden") << refused.dump();
  EXPECT_EQ(problem_at(refused, {"body", "number_of_steps"}).value("type", ""), "int_type") << refused.dump();
}

TEST_F(ServeTest, ValidationInputsAreCheckedBeforeTheExpensiveStages) {
  media::TestClipOptions silent;
  silent.width = 32;
  silent.height = 32;
  silent.frames = 12;
  silent.audio = false;
  media::write_test_clip(files_dir() / "silent_clip.mp4", silent);
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1));
  server.start();
  const Api api(server.port());

  struct Case {
    std::string name;
    json entry;
    json loc;
    std::string names;  // the message names this file
  };
  const std::vector<Case> cases = {
      {"video without audio and no reference_audio_url",
       {{"prompt", "ZQX"}, {"reference_video_url", file_url("silent_clip.mp4")}},
       {"body", "validation", 0, "reference_video_url"},
       "silent_clip.mp4"},
      {"reference audio without audio",
       {{"prompt", "ZQX"},
        {"reference_video_url", file_url("ref.mp4")},
        {"reference_audio_url", file_url("silent_clip.mp4")}},
       {"body", "validation", 0, "reference_audio_url"},
       "silent_clip.mp4"},
      {"reference video that is not a clip",
       {{"prompt", "ZQX"}, {"reference_video_url", file_url("clips.zip")}},
       {"body", "validation", 0, "reference_video_url"},
       "clips.zip"},
      {"reference video that cannot be downloaded",
       {{"prompt", "ZQX"}, {"reference_video_url", file_url("gone.mp4")}},
       {"body", "validation", 0, "reference_video_url"},
       "gone.mp4"},
  };
  for (const auto& c : cases) {
    json body = request();
    body["validation"] = json::array({c.entry});
    const auto submitted_at = Clock::now();
    const std::string id = submit(api, body).at("request_id").get<std::string>();
    const json done = wait_until_completed(api, id, server, 60s);
    EXPECT_LT(Clock::now() - submitted_at, 20s) << c.name << ": found late";
    EXPECT_EQ(done.value("outcome", json()), "failed") << c.name << ": " << done.dump();
    const auto result = api.get(result_path(id));
    const json error = body_of(result, "GET result (" + c.name + ")");
    EXPECT_EQ(result->status, 422) << c.name << ": " << error.dump();
    const json problem = problem_at(error, c.loc);
    ASSERT_FALSE(problem.is_null()) << c.name << ": no problem at " << c.loc.dump() << ": " << error.dump();
    EXPECT_NE(problem.value("msg", "").find(c.names), std::string::npos) << c.name << ": " << problem.dump();
    EXPECT_EQ(error.dump().find(data_dir().string()), std::string::npos)
        << c.name << ": a server path: " << error.dump();
    EXPECT_EQ(error.at("billing").at("units"), 0) << c.name;
    EXPECT_FALSE(fs::exists(job_dir(id) / "dataset")) << c.name << ": preprocessing ran";
    EXPECT_FALSE(fs::exists(job_dir(id) / "prompts")) << c.name << ": text encoding ran";
  }
  server.stop();
}

TEST_F(ServeTest, AnAutoScaledJobTakesAudioOnlyReferenceAudio) {
  media::TestClipOptions sound;
  sound.frames = 12;
  sound.tone_hz = 550;
  media::write_test_audio(files_dir() / "voice.mp3", sound);
  media::write_test_audio(files_dir() / "voice.flac", sound);
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1));
  server.start();
  const Api api(server.port());
  json body = request();
  body["auto_scale_input"] = true;
  body["validation"] = json::array({{{"prompt", "ZQX"},
                                     {"reference_video_url", file_url("ref.mp4")},
                                     {"reference_audio_url", file_url("voice.mp3")}},
                                    {{"prompt", "ZQX"},
                                     {"reference_video_url", file_url("tgt.mp4")},
                                     {"reference_audio_url", file_url("voice.flac")}}});
  const std::string id = submit(api, body).at("request_id").get<std::string>();
  const json done = wait_until_completed(api, id, server);
  EXPECT_EQ(done.value("outcome", json()), "succeeded") << done.dump() << "\nserver stderr: " << server.log();
  const json output = body_of(api.get(result_path(id)), "GET result");
  EXPECT_TRUE(output.at("video").is_object()) << output.dump();
  server.stop();
}

// One server per data folder (issue 29): a second one is refused at once naming the first one's pid.
// Bodies the API would otherwise buffer whole are refused before they are read; an unknown route is 404.
TEST_F(ServeTest, ASecondServerOnTheDataFolderAndOversizedBodiesAreRefused) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/1));
  server.start();
  testing::ChildProcess second(
      [&] {
        std::vector<std::string> argv = {testing::avtrain_binary().string(), "serve", "--listen",
                                         "127.0.0.1:0"};
        const auto args = serve_args(1);
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
      }(),
      {{"AVTRAIN_CACHE_DIR", (dir_ / "model-cache").string()}}, dir_ / "second.out", dir_ / "second.err");
  second.wait();
  EXPECT_EQ(second.exit_code(), 2) << second.err();
  EXPECT_NE(second.err().find("data folder " + data_dir().string() + " is in use by another avtrain process"),
            std::string::npos)
      << second.err();

  // Refused from the headers, before the body is read; the connection closes (the body is not a request).
  const std::string post = "POST " + std::string(kPrefix) + "/av2av HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                           "Content-Type: application/json\r\n";
  const auto large = raw_exchange(server.port(), post + "Content-Length: 1048577\r\n\r\n");
  EXPECT_EQ(large.rfind("HTTP/1.1 413", 0), 0u) << large;
  EXPECT_NE(large.find("at most 1048576"), std::string::npos) << large;
  const auto chunked = raw_exchange(server.port(), post + "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(chunked.rfind("HTTP/1.1 411", 0), 0u) << chunked;
  httplib::Client client("127.0.0.1", server.port());
  const auto unknown = client.Get("/no/such/route/here");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(unknown->body.find("docs/api.md"), std::string::npos) << unknown->body;
  // The server still answers.
  EXPECT_EQ(submit(Api(server.port()), request()).value("status", ""), "IN_QUEUE");
  server.stop();
}

// Malformed uploads, an early result request and a bad fal_webhook, each refused over HTTP with the
// status and the message docs/bad-inputs.md gives; nothing of it reaches a job.
TEST_F(ServeTest, MalformedUploadsAnEarlyResultAndABadWebhookAreRefusedByName) {
  std::ofstream(dir_ / "keys.txt") << "key-a\n";
  ServeProcess server(dir_.path(),
                      serve_args(/*steps=*/400, 1, {"--api-keys", (dir_ / "keys.txt").string()}));
  server.start();
  const Api api = Api::with_key(server.port(), "key-a");
  httplib::Client plain("127.0.0.1", server.port());
  const auto refusal_type = [](const httplib::Result& result, const std::string& what) {
    return body_of(result, what).at("detail").at(0).value("type", "");
  };

  // initiate: a body that is not JSON, or not an object
  const auto not_json = api.post("/storage/upload/initiate", "{file_name: clips.zip");
  EXPECT_EQ(not_json->status, 422);
  EXPECT_EQ(refusal_type(not_json, "initiate (not JSON)"), "json_invalid");
  const auto not_object = api.post("/storage/upload/initiate", "[1, 2]");
  EXPECT_EQ(not_object->status, 422);
  EXPECT_EQ(refusal_type(not_object, "initiate (an array)"), "model_attributes_type");

  // multipart: a part number outside 1..N, an empty parts list, a listed part never sent
  const json multipart = body_of(
      api.post("/storage/upload/initiate-multipart", R"({"file_name": "clips.zip"})"), "initiate-multipart");
  const std::string upload_path = multipart.at("upload_url").get<std::string>().substr(server.url().size());
  const auto part_zero = plain.Put(upload_path + "/0", "abc", "application/octet-stream");
  ASSERT_TRUE(part_zero);
  EXPECT_EQ(part_zero->status, 400);
  EXPECT_NE(part_zero->body.find("part number 0 is out of range"), std::string::npos) << part_zero->body;
  const auto part_one = plain.Put(upload_path + "/1", "abc", "application/octet-stream");
  ASSERT_TRUE(part_one);
  ASSERT_EQ(part_one->status, 200) << part_one->body;
  const std::string etag = json::parse(part_one->body).at("etag");
  const auto none_listed = plain.Post(upload_path + "/complete", R"({"parts": []})", "application/json");
  ASSERT_TRUE(none_listed);
  EXPECT_EQ(none_listed->status, 400);
  EXPECT_NE(none_listed->body.find("no part listed"), std::string::npos) << none_listed->body;
  const json two_parts = {
      {"parts", {{{"partNumber", 1}, {"etag", etag}}, {{"partNumber", 2}, {"etag", "x"}}}}};
  const auto missing = plain.Post(upload_path + "/complete", two_parts.dump(), "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("part 2 was never uploaded"), std::string::npos) << missing->body;

  // a completed upload's file URL under another file name
  const json single =
      body_of(api.post("/storage/upload/initiate", R"({"file_name": "clips.zip"})"), "initiate");
  const auto put = plain.Put(single.at("upload_url").get<std::string>().substr(server.url().size()),
                             read_bytes(files_dir() / "clips.zip"), "application/zip");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200) << put->body;
  std::string renamed = single.at("file_url");
  renamed.replace(renamed.rfind('/') + 1, std::string::npos, "other.zip");
  const auto mismatch = api.post(std::string(kPrefix) + "/av2av", request(renamed).dump());
  const json mismatch_body = body_of(mismatch, "POST av2av (renamed file URL)");
  EXPECT_EQ(mismatch->status, 422) << mismatch_body.dump();
  const json renamed_problem = problem_at(mismatch_body, {"body", "training_data_url"});
  ASSERT_FALSE(renamed_problem.is_null()) << mismatch_body.dump();
  EXPECT_NE(renamed_problem.value("msg", "").find("does not match its upload's file name"),
            std::string::npos);

  // fal_webhook that is not an http(s) URL: the 422 names the query parameter
  const auto bad_hook =
      api.post(std::string(kPrefix) + "/av2av?fal_webhook=file:///etc/passwd", request().dump());
  const json bad_hook_body = body_of(bad_hook, "POST av2av (file:// webhook)");
  EXPECT_EQ(bad_hook->status, 422) << bad_hook_body.dump();
  EXPECT_FALSE(problem_at(bad_hook_body, {"query", "fal_webhook"}).is_null()) << bad_hook_body.dump();

  // an upload whose body is cut short: the connection ends after 10 of 1000 bytes. The server cannot
  // answer a closed peer; nothing of it is kept and a request naming it is refused as incomplete.
  const json cut = body_of(api.post("/storage/upload/initiate", R"({"file_name": "clips.zip"})"), "initiate");
  const std::string cut_path = cut.at("upload_url").get<std::string>().substr(server.url().size());
  EXPECT_EQ(raw_exchange(server.port(),
                         "PUT " + cut_path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
                         /*half_close=*/true),
            "");
  const auto incomplete = api.post(std::string(kPrefix) + "/av2av", request(cut.at("file_url")).dump());
  const json incomplete_body = body_of(incomplete, "POST av2av (cut upload)");
  EXPECT_EQ(incomplete->status, 422) << incomplete_body.dump();
  EXPECT_NE(problem_at(incomplete_body, {"body", "training_data_url"}).value("msg", "").find("not complete"),
            std::string::npos)
      << incomplete_body.dump();
  const std::string cut_url = cut.at("file_url");
  const std::string cut_token = cut_url.substr(cut_url.find("/files/") + 7, 32);
  ASSERT_TRUE(fs::is_directory(data_dir() / "uploads" / cut_token)) << cut_url;
  EXPECT_TRUE(fs::is_empty(data_dir() / "uploads" / cut_token)) << "a partial upload was kept";

  // malformed HTTP: a POST with neither a body nor a Content-Length (answered once the server's read
  // of the missing body times out)
  const std::string malformed =
      raw_exchange(server.port(), "POST " + std::string(kPrefix) + "/av2av HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(malformed.rfind("HTTP/1.1 400", 0), 0u) << malformed;
  EXPECT_NE(malformed.find("a PUT or POST needs a body or Content-Length: 0"), std::string::npos) << malformed;

  // the result of a job that has not finished
  const std::string id = submit(api, request()).at("request_id");
  const auto early = api.get(result_path(id));
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 400);
  EXPECT_NE(early->body.find("Request is still in progress"), std::string::npos) << early->body;
  EXPECT_EQ(body_of(api.put(cancel_path(id)), "PUT cancel").value("status", ""), "CANCELLATION_REQUESTED");
  EXPECT_EQ(wait_until_completed(api, id, server).value("outcome", json()), "cancelled");
  server.stop();
}

}  // namespace
}  // namespace avtrain::service
