#pragma once
// What the `avtrain serve` end-to-end tests share (serve_test.cpp, serve_fidelity_test.cpp): the real
// binary on loopback as a child process, an HTTP client with the hosted key header, the queue's routes,
// and a fixture whose jobs read their media from files/ (the folder --allow-local-files names) with the
// tiny model at 32x32 and 9 frames.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dataset/zip_builder.h"
#include "media/test_media.h"
#include "testing/child_process.h"
#include "testing/golden_dir.h"
#include "testing/temp_dir.h"

namespace avtrain::service::serve_testing {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline constexpr const char* kPrefix = "/fal-ai/ltx23-trainer-v2";  // the endpoint id's owner/alias
inline const std::set<std::string> kStates = {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"};

inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

inline std::string tail(const std::string& text, size_t count = 4000) {
  return text.size() <= count ? text : "..." + text.substr(text.size() - count);
}

// One `avtrain serve` process; start() may be called again after stop() on the same data folder.
class ServeProcess {
 public:
  ServeProcess(fs::path dir, std::vector<std::string> args) : dir_(std::move(dir)), args_(std::move(args)) {}

  // Starts the server and reads its port from the one line it prints once bound.
  void start() {
    ++starts_;
    std::vector<std::string> argv = {testing::avtrain_binary().string(), "serve", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args_.begin(), args_.end());
    // The tiny model is made once per test in its temporary folder (models/tiny.cpp default_cache_dir).
    // One LibTorch thread per process: OpenMP threads that spin-wait on busy shared cores (CTest runs
    // tests side by side) made tiny jobs several times slower.
    process_.reset();
    process_ = std::make_unique<testing::ChildProcess>(
        argv,
        std::map<std::string, std::string>{{"AVTRAIN_CACHE_DIR", (dir_ / "model-cache").string()},
                                           {"AVTRAIN_THREADS", "1"}},
        dir_ / ("serve-" + std::to_string(starts_) + ".out"),
        dir_ / ("serve-" + std::to_string(starts_) + ".err"));
    const std::regex line(R"(avtrain serve: listening on http://127\.0\.0\.1:(\d+)\n)");
    const auto deadline = Clock::now() + 120s;
    for (;;) {
      std::smatch match;
      const std::string out = process_->out();
      if (std::regex_search(out, match, line)) {
        port_ = std::stoi(match[1].str());
        return;
      }
      if (const auto status = process_->poll()) {
        throw std::runtime_error("avtrain serve ended before listening (" + testing::describe_exit(*status) +
                                 "); stdout: " + out + "\nstderr: " + log());
      }
      if (Clock::now() > deadline)
        throw std::runtime_error("avtrain serve did not print its port; stderr: " + log());
      std::this_thread::sleep_for(20ms);
    }
  }

  // SIGTERM: the server must end by itself, with exit code 0. SIGKILL: a crash.
  void stop(int signal = SIGTERM) {
    ASSERT_TRUE(process_ && !process_->poll()) << "avtrain serve is not running";
    process_->send(signal);
    auto status = process_->wait_for(30s);
    if (!status) {
      ADD_FAILURE() << "avtrain serve still runs 30 s after signal " << signal << "; stderr: " << log();
      process_->send(SIGKILL);
      status = process_->wait_for(10s);
    }
    if (signal == SIGTERM && status) {
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "after SIGTERM: " << testing::describe_exit(*status) << "; stderr: " << log();
    }
  }

  // Sends `signal` to the running server (SIGHUP reloads its keys).
  void signal(int signal) const { process_->send(signal); }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return process_ ? tail(process_->err()) : std::string(); }

 private:
  fs::path dir_;
  std::vector<std::string> args_;
  std::unique_ptr<testing::ChildProcess> process_;
  int port_ = 0;
  int starts_ = 0;
};

// A client of the server, optionally with an API key (`Authorization: Key <key>`, the hosted form).
class Api {
 public:
  explicit Api(int port, std::string authorization = {})
      : port_(port), authorization_(std::move(authorization)) {}

  static Api with_key(int port, const std::string& key) { return Api(port, "Key " + key); }

  httplib::Result get(const std::string& path, httplib::Headers headers = {}) const {
    return client().Get(path, with_auth(std::move(headers)));
  }
  httplib::Result post(const std::string& path, const std::string& body) const {
    return client().Post(path, with_auth({}), body, "application/json");
  }
  httplib::Result put(const std::string& path) const {
    return client().Put(path, with_auth({}), std::string(), "application/json");
  }
  httplib::Result del(const std::string& path) const { return client().Delete(path, with_auth({})); }

 private:
  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(10s);
    client.set_read_timeout(60s);
    return client;
  }
  httplib::Headers with_auth(httplib::Headers headers) const {
    if (!authorization_.empty()) headers.emplace("Authorization", authorization_);
    return headers;
  }

  int port_;
  std::string authorization_;
};

// The response's JSON body; throws naming the request when there is no response or no JSON.
inline json body_of(const httplib::Result& result, const std::string& what) {
  if (!result) throw std::runtime_error(what + ": no response (" + httplib::to_string(result.error()) + ")");
  const std::string type = result->get_header_value("Content-Type");
  if (type.find("application/json") == std::string::npos) {
    throw std::runtime_error(what + ": HTTP " + std::to_string(result->status) + " with Content-Type '" +
                             type + "', expected application/json; body: " + tail(result->body, 500));
  }
  try {
    return json::parse(result->body);
  } catch (const json::exception& error) {
    throw std::runtime_error(what + ": HTTP " + std::to_string(result->status) + ", body is not JSON (" +
                             error.what() + "): " + tail(result->body, 500));
  }
}

// Sends `head` (request line and headers, without the body it announces) on a fresh loopback connection
// and returns what the server answers until it closes: how a server that refuses a body before reading
// it is seen without the client's writes racing its close.
// With `half_close`, the client's side is shut for writing once `head` is sent (a body cut short).
inline std::string raw_exchange(int port, const std::string& head, bool half_close = false) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  if (sock < 0) return {};
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0 &&
      ::send(sock, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size())) {
    if (half_close) ::shutdown(sock, SHUT_WR);
    char buffer[4096];
    for (ssize_t got; (got = ::recv(sock, buffer, sizeof(buffer), 0)) > 0;) answer.append(buffer, got);
  }
  ::close(sock);
  return answer;
}

inline std::string status_path(const std::string& id) {
  return std::string(kPrefix) + "/requests/" + id + "/status";
}
inline std::string result_path(const std::string& id) { return std::string(kPrefix) + "/requests/" + id; }
inline std::string cancel_path(const std::string& id) {
  return std::string(kPrefix) + "/requests/" + id + "/cancel";
}

// Submits `request`; expects 200 and returns the reply.
inline json submit(const Api& api, const json& request, const std::string& query = {}) {
  const auto result = api.post(std::string(kPrefix) + "/av2av" + query, request.dump());
  const json reply = body_of(result, "POST /av2av");
  if (result->status != 200 || !reply.contains("request_id")) {
    throw std::runtime_error("POST /av2av: expected 200 with a request_id, got HTTP " +
                             std::to_string(result->status) + ": " + reply.dump());
  }
  return reply;
}

// Polls the status until COMPLETED and returns it; `seen` collects every status object. The status
// answers 202 while the job is queued or running and 200 once it is completed (DECISIONS.md §37).
inline json wait_until_completed(const Api& api, const std::string& id, const ServeProcess& server,
                                 std::chrono::seconds timeout = 150s, std::vector<json>* seen = nullptr) {
  const auto deadline = Clock::now() + timeout;
  json status;
  for (;;) {
    const auto result = api.get(status_path(id) + "?logs=1");
    status = body_of(result, "GET " + status_path(id));
    const int expected = status.value("status", "") == "COMPLETED" ? 200 : 202;
    if (result->status != expected) {
      throw std::runtime_error("GET " + status_path(id) + ": HTTP " + std::to_string(result->status) +
                               ", expected " + std::to_string(expected) + ": " + status.dump());
    }
    if (seen) seen->push_back(status);
    if (status.value("status", "") == "COMPLETED") return status;
    if (Clock::now() > deadline) {
      throw std::runtime_error("request " + id + " not COMPLETED after " + std::to_string(timeout.count()) +
                               " s; last status " + status.dump() + "\nserver stderr: " + server.log());
    }
    std::this_thread::sleep_for(50ms);
  }
}

// The data-stream events of a server-sent-events body: each `data: <json>` followed by a blank line.
inline std::vector<json> parse_events(const std::string& body) {
  std::vector<json> events;
  std::string data;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!data.empty()) events.push_back(json::parse(data));
      data.clear();
    } else if (line.rfind("data:", 0) == 0) {
      data += line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5);
    }
  }
  return events;
}

inline void expect_iso_timestamps(const json& logs) {
  static const std::regex iso(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$)");
  ASSERT_TRUE(logs.is_array()) << logs.dump();
  for (const auto& entry : logs) {
    EXPECT_TRUE(entry.contains("message") && entry["message"].is_string()) << entry.dump();
    EXPECT_TRUE(entry.contains("level") && entry["level"].is_string()) << entry.dump();
    EXPECT_TRUE(entry.contains("timestamp") && entry["timestamp"].is_string() &&
                std::regex_match(entry["timestamp"].get<std::string>(), iso))
        << "timestamp is not ISO 8601: " << entry.dump();
  }
}

// Every job of these tests reads its dataset (and validation reference) from `files/`, the folder the
// server's --allow-local-files names (DECISIONS.md §21).
class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(files_dir());
    media::TestClipOptions clip;
    clip.width = 32;
    clip.height = 32;
    clip.frames = 12;  // 0.5 s: longer than the 9-frame window at 24 fps
    media::write_test_clip(files_dir() / "ref.mp4", clip);
    clip.tone_hz = 660;
    media::write_test_clip(files_dir() / "tgt.mp4", clip);
    dataset::testing::ZipBuilder()
        .file("a_start.mp4", read_bytes(files_dir() / "ref.mp4"))
        .file("a_end.mp4", read_bytes(files_dir() / "tgt.mp4"))
        .file("a.txt", "a grey square")
        .file("b_start.mp4", read_bytes(files_dir() / "tgt.mp4"))
        .file("b_end.mp4", read_bytes(files_dir() / "ref.mp4"))
        .write(files_dir() / "clips.zip");
  }

  fs::path files_dir() const { return dir_ / "files"; }
  fs::path data_dir() const { return dir_ / "data"; }
  fs::path job_dir(const std::string& id) const { return data_dir() / "jobs" / id; }
  std::string file_url(const std::string& name) const { return "file://" + (files_dir() / name).string(); }

  // The server's arguments: tiny model on the CPU at 32x32, 9 frames, `steps` training steps; with
  // `local_access`, requests may name files/ and loopback URLs.
  std::vector<std::string> serve_args(int steps, int workers = 1, std::vector<std::string> extra = {},
                                      bool local_access = true) const {
    std::vector<std::string> args = {"--data", data_dir().string()};
    args.insert(args.end(), {"--model", "tiny", "--text-encoder", "tiny"});
    args.insert(args.end(), {"--workers", std::to_string(workers), "--device", "cpu"});
    if (local_access) {
      args.insert(args.end(), {"--allow-local-files", files_dir().string(), "--allow-private-network"});
    }
    args.insert(args.end(),
                {"--demo-size", "32x32", "--demo-frames", "9", "--demo-steps", std::to_string(steps)});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // number_of_steps 100 is the request's minimum; the server's --demo-steps replaces it for training
  // while billing still describes the request (units max(100, steps), DECISIONS.md §32).
  json request(const std::string& data_url = {}) const {
    return {{"training_data_url", data_url.empty() ? file_url("clips.zip") : data_url},
            {"trigger_phrase", "ZQX"},
            {"number_of_steps", 100}};
  }
  json request_with_validation(int interval) const {
    json body = request();
    body["validation"] =
        json::array({{{"prompt", "ZQX a grey square"}, {"reference_video_url", file_url("ref.mp4")}}});
    body["validation_interval"] = interval;
    return body;
  }

  testing::TempDir dir_{"avtrain-serve"};
};

// The official JavaScript client's npm folder; the test is skipped (failed under CI=true) when it or
// node is missing.
inline fs::path npm_dir_or_skip() {
  const fs::path npm_dir = AVTRAIN_NPM_DIR;
  if (!fs::exists(npm_dir / "@fal-ai" / "client" / "package.json") ||
      std::system("node --version > /dev/null 2>&1")) {
    const std::string why =
        "node or " + (npm_dir / "@fal-ai/client").string() + " missing (scripts/install-deps.sh)";
    if (std::getenv("CI")) throw std::runtime_error(why);
    return {};
  }
  return npm_dir;
}

// Runs tests/e2e/`script` with node and `environment`; fails the test (with both outputs) unless it
// exits 0 within `timeout`. Returns its stdout.
inline std::string run_node_script(const fs::path& dir, const std::string& script,
                                   const std::map<std::string, std::string>& environment,
                                   std::chrono::seconds timeout, const std::string& server_log) {
  const fs::path path = fs::path(AVTRAIN_SOURCE_DIR) / "tests" / "e2e" / script;
  testing::ChildProcess node({"node", path.string()}, environment, dir / (script + ".out"),
                             dir / (script + ".err"));
  auto status = node.wait_for(timeout);
  if (!status) {
    node.send(SIGKILL);
    status = node.wait_for(std::chrono::seconds(10));
    ADD_FAILURE() << script << " did not finish in " << timeout.count() << " s";
  }
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << script << ": " << (status ? testing::describe_exit(*status) : "killed") << "\nstdout: " << node.out()
      << "\nstderr: " << tail(node.err()) << "\nserver stderr: " << server_log;
  return node.out();
}

// Checks one delivered file of a result: its capability URL downloads without a key, with the size and
// content type the result states, a range request gives 206 with those bytes, a changed token 404.
inline void expect_downloadable(const json& entry, const std::string& server_url,
                                const std::string& content_type) {
  ASSERT_TRUE(entry.is_object()) << entry.dump();
  const std::string url = entry.at("url").get<std::string>();
  const std::string name = entry.at("file_name").get<std::string>();
  EXPECT_EQ(entry.at("content_type").get<std::string>(), content_type) << entry.dump();
  std::smatch match;
  const std::regex shape("^" + std::regex_replace(server_url, std::regex(R"([.])"), R"(\.)") +
                         R"((/files/([0-9a-f]{32})/)(.+)$)");
  ASSERT_TRUE(std::regex_match(url, match, shape)) << "not <public url>/files/<32 hex>/<name>: " << url;
  EXPECT_EQ(match[3].str(), name) << url;
  const std::string path = match[1].str() + match[3].str();
  const int port = std::stoi(server_url.substr(server_url.rfind(':') + 1));
  const Api anonymous(port);  // hosted result URLs need no key (DECISIONS.md §30)

  const auto whole = anonymous.get(path);
  ASSERT_TRUE(whole) << url << ": " << httplib::to_string(whole.error());
  ASSERT_EQ(whole->status, 200) << url;
  EXPECT_EQ(whole->body.size(), entry.at("file_size").get<size_t>()) << url;
  EXPECT_EQ(whole->get_header_value("Content-Type").rfind(content_type, 0), 0u)
      << url << " Content-Type " << whole->get_header_value("Content-Type");

  const auto range = anonymous.get(path, {{"Range", "bytes=0-9"}});
  ASSERT_TRUE(range) << url;
  EXPECT_EQ(range->status, 206) << url << " with Range: bytes=0-9";
  EXPECT_EQ(range->body, whole->body.substr(0, 10)) << url;
  EXPECT_EQ(range->get_header_value("Content-Range"), "bytes 0-9/" + std::to_string(whole->body.size()))
      << url;

  std::string token = match[2].str();
  token[0] = token[0] == '0' ? '1' : '0';
  const auto forged = anonymous.get("/files/" + token + "/" + name);
  ASSERT_TRUE(forged) << url;
  EXPECT_EQ(forged->status, 404) << "a changed token must not download: /files/" << token << "/" << name;
}

}  // namespace avtrain::service::serve_testing
