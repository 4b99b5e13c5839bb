// Webhook delivery (issue 13, anchors.md §4.1): the body's shape, the URL check, and delivery with its
// retries, final answers, destination policy and stop, against a cpp-httplib receiver on loopback.
#include "service/webhook.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace avtrain::service {
namespace {

using std::chrono::milliseconds;

struct ReceivedRequest {
  std::string path, body, content_type, user_agent;
};

// A webhook receiver on 127.0.0.1 whose routes answer as the tests need; it records every request.
class LoopbackReceiver {
 public:
  LoopbackReceiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response&) { record(req); });
    server_.Post("/flaky", [this](const httplib::Request& req, httplib::Response& res) {
      if (record(req) <= 2) res.status = 500;  // 500, 500, then 200
    });
    server_.Post("/throttled", [this](const httplib::Request& req, httplib::Response& res) {
      const int seen = record(req);
      if (seen == 1) res.status = 429;
      if (seen == 2) res.status = 408;
    });
    server_.Post("/down", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.status = 503;
    });
    server_.Post("/missing", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.status = 404;
      res.set_content("no such hook", "text/plain");
    });
    server_.Post("/moved", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_redirect("/target");  // 302
    });
    server_.Post("/target", [this](const httplib::Request& req, httplib::Response&) { record(req); });
    server_.Get("/target", [this](const httplib::Request& req, httplib::Response&) { record(req); });
    server_.Post("/slow", [this](const httplib::Request& req, httplib::Response&) {
      record(req);
      std::this_thread::sleep_for(milliseconds(400));
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~LoopbackReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return "http://" + host + ":" + std::to_string(port_) + path;
  }
  std::vector<ReceivedRequest> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  int hits(const std::string& path) const {
    const auto all = requests();
    return static_cast<int>(
        std::count_if(all.begin(), all.end(), [&](const auto& r) { return r.path == path; }));
  }

 private:
  // Returns how many requests this path has seen, this one included.
  int record(const httplib::Request& req) {
    const std::lock_guard lock(mutex_);
    requests_.push_back(
        {req.path, req.body, req.get_header_value("Content-Type"), req.get_header_value("User-Agent")});
    return static_cast<int>(
        std::count_if(requests_.begin(), requests_.end(), [&](const auto& r) { return r.path == req.path; }));
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
};

// A loopback port nothing listens on: bound without listening, then closed, so connecting is refused.
int unused_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

// The receiver is on loopback, a private destination: these tests allow it, as a local set-up does.
WebhookOptions loopback_options() {
  WebhookOptions options;
  options.allow_private_destinations = true;
  options.first_backoff = milliseconds(5);
  options.max_backoff = milliseconds(20);
  options.timeout = milliseconds(5000);
  return options;
}

const std::string kBody = R"({"request_id":"req-1","gateway_request_id":"req-1","status":"OK","payload":{}})";

TEST(Webhook, DeliversTheExactBodyAsJson) {
  LoopbackReceiver receiver;
  EXPECT_EQ(deliver_webhook(receiver.url("/hook"), kBody, loopback_options()), WebhookResult::delivered);
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, kBody);
  EXPECT_EQ(requests[0].content_type, "application/json");
  EXPECT_EQ(requests[0].user_agent, "avtrain");
}

TEST(Webhook, RetriesServerErrorsUntilDelivered) {
  LoopbackReceiver receiver;
  EXPECT_EQ(deliver_webhook(receiver.url("/flaky"), kBody, loopback_options()), WebhookResult::delivered);
  EXPECT_EQ(receiver.hits("/flaky"), 3);
  for (const auto& request : receiver.requests()) EXPECT_EQ(request.body, kBody);
}

TEST(Webhook, RetriesTooManyRequestsAndRequestTimeout) {
  LoopbackReceiver receiver;
  EXPECT_EQ(deliver_webhook(receiver.url("/throttled"), kBody, loopback_options()), WebhookResult::delivered);
  EXPECT_EQ(receiver.hits("/throttled"), 3);
}

TEST(Webhook, GivesUpAfterMaxAttempts) {
  LoopbackReceiver receiver;
  auto options = loopback_options();
  options.max_attempts = 3;
  EXPECT_EQ(deliver_webhook(receiver.url("/down"), kBody, options), WebhookResult::gave_up);
  EXPECT_EQ(receiver.hits("/down"), 3);
}

TEST(Webhook, BackoffDoublesUpToItsCap) {
  LoopbackReceiver receiver;
  auto options = loopback_options();
  options.max_attempts = 5;
  options.first_backoff = milliseconds(20);
  options.max_backoff = milliseconds(40);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(deliver_webhook(receiver.url("/down"), kBody, options), WebhookResult::gave_up);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Waits 20 + 40 + 40 (capped) + 40 (capped) = 140 ms; uncapped doubling would wait 20 + 40 + 80 + 160.
  EXPECT_GE(elapsed, milliseconds(140));
  EXPECT_LT(elapsed, milliseconds(290));
  EXPECT_EQ(receiver.hits("/down"), 5);
}

TEST(Webhook, ClientErrorIsFinal) {
  LoopbackReceiver receiver;
  EXPECT_EQ(deliver_webhook(receiver.url("/missing"), kBody, loopback_options()), WebhookResult::rejected);
  EXPECT_EQ(receiver.hits("/missing"), 1);
}

TEST(Webhook, RedirectIsFinalAndNotFollowed) {
  LoopbackReceiver receiver;
  EXPECT_EQ(deliver_webhook(receiver.url("/moved"), kBody, loopback_options()), WebhookResult::rejected);
  EXPECT_EQ(receiver.hits("/moved"), 1);
  EXPECT_EQ(receiver.hits("/target"), 0);
}

TEST(Webhook, RetriesATimeout) {
  LoopbackReceiver receiver;
  auto options = loopback_options();
  options.max_attempts = 2;
  options.timeout = milliseconds(100);
  EXPECT_EQ(deliver_webhook(receiver.url("/slow"), kBody, options), WebhookResult::gave_up);
  EXPECT_EQ(receiver.hits("/slow"), 2);
}

TEST(Webhook, RetriesARefusedConnection) {
  const int closed_port = unused_loopback_port();
  auto options = loopback_options();
  options.max_attempts = 2;
  options.first_backoff = milliseconds(50);
  options.max_backoff = milliseconds(50);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(deliver_webhook("http://127.0.0.1:" + std::to_string(closed_port) + "/hook", kBody, options),
            WebhookResult::gave_up);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50))
      << "the second attempt waits its backoff";
}

TEST(Webhook, RefusesLoopbackDestinationsUnlessAllowed) {
  LoopbackReceiver receiver;
  auto options = loopback_options();
  options.allow_private_destinations = false;
  EXPECT_EQ(deliver_webhook(receiver.url("/hook"), kBody, options), WebhookResult::rejected);
  // A name that resolves to loopback is refused on the resolved address.
  EXPECT_EQ(deliver_webhook(receiver.url("/hook", "localhost"), kBody, options), WebhookResult::rejected);
  EXPECT_TRUE(receiver.requests().empty());
}

TEST(Webhook, RefusesPrivateLinkLocalAndMappedDestinationsBeforeConnecting) {
  auto options = loopback_options();
  options.allow_private_destinations = false;
  for (const std::string host : {"10.1.2.3", "172.16.0.1", "169.254.169.254", "[fd00::1]",
                                 "[::ffff:192.168.1.1]", "224.0.0.1", "0.0.0.0"}) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(deliver_webhook("http://" + host + "/hook", kBody, options), WebhookResult::rejected) << host;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << host << ": refused, not tried";
  }
}

TEST(Webhook, RefusesUrlsThatAreNotHttpWithoutSending) {
  EXPECT_EQ(deliver_webhook("file:///etc/passwd", kBody, loopback_options()), WebhookResult::rejected);
  EXPECT_EQ(deliver_webhook("not a url", kBody, loopback_options()), WebhookResult::rejected);
}

TEST(Webhook, StopEndsTheBackoffWaitPromptly) {
  LoopbackReceiver receiver;
  auto options = loopback_options();
  options.first_backoff = std::chrono::seconds(30);
  options.max_backoff = std::chrono::seconds(30);
  std::atomic<bool> stopping{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(200));
    stopping = true;
  });
  const auto start = std::chrono::steady_clock::now();
  const auto result = deliver_webhook(receiver.url("/down"), kBody, options, [&] { return stopping.load(); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  stopper.join();
  EXPECT_EQ(result, WebhookResult::stopped);
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_EQ(receiver.hits("/down"), 1);
}

TEST(Webhook, StopBeforeTheFirstAttemptSendsNothing) {
  LoopbackReceiver receiver;
  EXPECT_EQ(deliver_webhook(receiver.url("/hook"), kBody, loopback_options(), [] { return true; }),
            WebhookResult::stopped);
  EXPECT_TRUE(receiver.requests().empty());
}

TEST(WebhookBody, SucceededJobIsOkWithTheResultAsPayload) {
  const nlohmann::json result = {{"lora_file", {{"url", "http://host/files/t/lora.safetensors"}}}};
  const auto body = webhook_body("req-7", true, result, "");
  EXPECT_EQ(body.dump(),
            R"({"request_id":"req-7","gateway_request_id":"req-7","status":"OK",)"
            R"("payload":{"lora_file":{"url":"http://host/files/t/lora.safetensors"}},"error":null,)"
            R"("payload_error":null})");
}

TEST(WebhookBody, FailedJobIsErrorWithTheDetailBodyAndAOneLineMessage) {
  const auto detail = nlohmann::json::parse(
      R"({"detail":[{"loc":["body","training_data_url"],"msg":"first\nproblem","type":"value_error"},)"
      R"({"loc":["body","rank"],"msg":"second","type":"value_error"}]})");
  const auto body = webhook_body("req-8", false, detail, "the archive\nhas no pairs");
  EXPECT_EQ(body["request_id"], "req-8");
  EXPECT_EQ(body["gateway_request_id"], "req-8");
  EXPECT_EQ(body["status"], "ERROR");
  EXPECT_EQ(body["payload"], nlohmann::ordered_json(detail));
  EXPECT_EQ(body["error"], "the archive has no pairs");
  EXPECT_TRUE(body["payload_error"].is_null());
  std::vector<std::string> keys;
  for (const auto& [key, value] : body.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"request_id", "gateway_request_id", "status", "payload", "error",
                                            "payload_error"}));
  // Without a message, the first detail's msg, on one line.
  EXPECT_EQ(webhook_body("req-8", false, detail, "")["error"], "first problem");
}

struct UrlCase {
  std::string url;
  bool accepted;
  std::string message_contains;
};

class WebhookUrlProblem : public testing::TestWithParam<UrlCase> {};

TEST_P(WebhookUrlProblem, AcceptsOnlyAbsoluteHttpUrls) {
  const auto& [url, accepted, message_contains] = GetParam();
  const auto problem = webhook_url_problem(url);
  if (accepted) {
    EXPECT_FALSE(problem) << url << ": " << problem.value_or("");
    return;
  }
  ASSERT_TRUE(problem) << url;
  EXPECT_NE(problem->find("fal_webhook"), std::string::npos) << *problem;
  EXPECT_NE(problem->find(message_contains), std::string::npos) << *problem;
}

INSTANTIATE_TEST_SUITE_P(
    WebhookUrls, WebhookUrlProblem,
    testing::Values(UrlCase{"https://example.com/hooks/avtrain?token=abc", true, ""},
                    UrlCase{"http://10.0.0.5:8080/hook", true, ""},  // private: refused on delivery, not here
                    UrlCase{"HTTPS://[2001:db8::1]/hook", true, ""}, UrlCase{"", false, "is empty"},
                    UrlCase{"bad", false, "not an absolute URL"},
                    UrlCase{"/hooks/avtrain", false, "not an absolute URL"},
                    UrlCase{"https:example.com", false, "https://host/path"},
                    UrlCase{"ftp://example.com/hook", false, "scheme ftp://"},
                    UrlCase{"file:///tmp/hook", false, "scheme file://"},
                    UrlCase{"https:///hook", false, "has no host"},
                    UrlCase{"https://example.com/a hook", false, "white space"},
                    UrlCase{"https://example.com:99999/hook", false, "not a valid URL"}));

TEST(WebhookUrlProblem, DoesNotEchoTheQuery) {
  const auto problem = webhook_url_problem("ftp://example.com/hook?token=secret");
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->find("secret"), std::string::npos) << *problem;
}

}  // namespace
}  // namespace avtrain::service
