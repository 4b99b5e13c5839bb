// Fetching training_data_url: local files, http(s) through libcurl with its caps, retries,
// redirects and the destination policy (DECISIONS.md §21), against a cpp-httplib server on loopback.
#include "service/fetch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/progress.h"
#include "service/network_address.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A cpp-httplib server on 127.0.0.1 with the routes the tests need.
class LoopbackServer {
 public:
  LoopbackServer() {
    server_.Get("/archive.zip", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(archive_, "application/zip");
    });
    server_.Get("/missing.zip", [](const httplib::Request&, httplib::Response& res) { res.status = 404; });
    server_.Get("/flaky.zip", [this](const httplib::Request&, httplib::Response& res) {
      if (flaky_hits_++ == 0) {
        res.status = 500;
        return;
      }
      res.set_content(archive_, "application/zip");
    });
    server_.Get("/down.zip", [this](const httplib::Request&, httplib::Response& res) {
      ++down_hits_;
      res.status = 503;
    });
    server_.Get("/big.zip", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(3 << 20, 'x'), "application/zip");
    });
    server_.Get("/big-chunked.zip", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/zip", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= (3u << 20)) {
          sink.done();
          return true;
        }
        const std::string chunk(64 << 10, 'y');
        return sink.write(chunk.data(), chunk.size());
      });
    });
    server_.Get("/moved.zip",
                [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/archive.zip"); });
    server_.Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop"); });
    server_.Get("/to-ftp.zip", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("ftp://127.0.0.1/a.zip");
    });
    server_.Get("/private.zip", [](const httplib::Request&, httplib::Response& res) { res.status = 401; });
    // Announces 10,000 bytes, sends 100 and drops the connection.
    server_.Get("/broken.zip", [this](const httplib::Request&, httplib::Response& res) {
      ++broken_hits_;
      res.set_content_provider(10000, "application/zip", [](size_t offset, size_t, httplib::DataSink& sink) {
        if (offset > 0) return false;
        const std::string part(100, 'z');
        sink.write(part.data(), part.size());
        return true;
      });
    });
    server_.Get("/forbidden.zip", [](const httplib::Request&, httplib::Response& res) { res.status = 403; });
    server_.Get("/slow.zip", [this](const httplib::Request&, httplib::Response& res) {
      ++slow_hits_;
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      res.set_content(archive_, "application/zip");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackServer() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path, const std::string& host = "127.0.0.1") const {
    return "http://" + host + ":" + std::to_string(port_) + path;
  }
  const std::string& archive() const { return archive_; }
  int flaky_hits() const { return flaky_hits_; }
  int down_hits() const { return down_hits_; }
  int slow_hits() const { return slow_hits_; }
  int broken_hits() const { return broken_hits_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::string archive_ = std::string("PK\x03\x04", 4) + std::string(10000, 'a');
  std::atomic<int> flaky_hits_{0}, down_hits_{0}, slow_hits_{0}, broken_hits_{0};
};

// The loopback server is a private destination: these tests allow it, as the CLI does.
FetchOptions loopback_options() {
  FetchOptions options;
  options.allow_private_destinations = true;
  options.retry_backoff = std::chrono::milliseconds(5);
  options.connect_timeout = std::chrono::seconds(5);
  options.total_timeout = std::chrono::seconds(10);
  return options;
}

template <typename ErrorType>
std::string message_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const ErrorType& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST(Fetch, DownloadsAnArchiveOverHttp) {
  LoopbackServer server;
  TempDir dir;
  const auto fetched = fetch(server.url("/archive.zip"), dir / "job/data.zip", loopback_options());
  EXPECT_TRUE(fetched.downloaded);
  EXPECT_EQ(fetched.attempts, 1);
  EXPECT_EQ(fetched.path, dir / "job/data.zip");
  EXPECT_EQ(fetched.bytes, server.archive().size());
  EXPECT_EQ(read_file(fetched.path), server.archive());
  EXPECT_FALSE(fs::exists(dir / "job/data.zip.part"));
}

TEST(Fetch, NotFoundIsADownloadFailureNamingTheStatusWithoutRetrying) {
  LoopbackServer server;
  TempDir dir;
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch(server.url("/missing.zip?signature=secret"), dir / "data.zip", loopback_options()); });
  EXPECT_NE(message.find("HTTP 404"), std::string::npos) << message;
  EXPECT_NE(message.find("training_data_url"), std::string::npos) << message;
  EXPECT_EQ(message.find("secret"), std::string::npos) << "the signed query must not be shown: " << message;
  EXPECT_EQ(message.find("attempts"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "data.zip"));
  EXPECT_FALSE(fs::exists(dir / "data.zip.part"));
}

TEST(Fetch, DownloadFailureHasItsOwnKindAndExitCode) {
  LoopbackServer server;
  TempDir dir;
  try {
    fetch(server.url("/missing.zip"), dir / "data.zip", loopback_options());
    FAIL() << "expected DownloadFailed";
  } catch (const core::Error& error) {
    EXPECT_EQ(error.kind(), core::ErrorKind::download_failed);
    EXPECT_EQ(error.exit_code(), 3);
  }
}

TEST(Fetch, RetriesAfterAServerErrorAndSucceeds) {
  LoopbackServer server;
  TempDir dir;
  const auto fetched = fetch(server.url("/flaky.zip"), dir / "data.zip", loopback_options());
  EXPECT_EQ(fetched.attempts, 2);
  EXPECT_EQ(server.flaky_hits(), 2);
  EXPECT_EQ(read_file(fetched.path), server.archive());
}

TEST(Fetch, GivesUpAfterThreeRetries) {
  LoopbackServer server;
  TempDir dir;
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch(server.url("/down.zip"), dir / "data.zip", loopback_options()); });
  EXPECT_EQ(server.down_hits(), 4);
  EXPECT_NE(message.find("HTTP 503"), std::string::npos) << message;
  EXPECT_NE(message.find("after 4 attempts"), std::string::npos) << message;
}

TEST(Fetch, RefusesABodyLargerThanTheCapWhenTheSizeIsAnnounced) {
  LoopbackServer server;
  TempDir dir;
  auto options = loopback_options();
  options.max_bytes = 1 << 20;
  const auto message =
      message_of<core::DownloadFailed>([&] { fetch(server.url("/big.zip"), dir / "data.zip", options); });
  EXPECT_NE(message.find("larger than the download limit of 1.0 MiB"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "data.zip.part"));
  EXPECT_FALSE(fs::exists(dir / "data.zip"));
}

TEST(Fetch, StopsAChunkedBodyAsSoonAsItPassesTheCap) {
  LoopbackServer server;
  TempDir dir;
  auto options = loopback_options();
  options.max_bytes = 1 << 20;
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch(server.url("/big-chunked.zip"), dir / "data.zip", options); });
  EXPECT_NE(message.find("larger than the download limit"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "data.zip.part"));
}

TEST(Fetch, FollowsARedirect) {
  LoopbackServer server;
  TempDir dir;
  const auto fetched = fetch(server.url("/moved.zip"), dir / "data.zip", loopback_options());
  EXPECT_EQ(read_file(fetched.path), server.archive());
}

TEST(Fetch, CapsRedirects) {
  LoopbackServer server;
  TempDir dir;
  auto options = loopback_options();
  options.max_redirects = 3;
  const auto message =
      message_of<core::DownloadFailed>([&] { fetch(server.url("/loop"), dir / "data.zip", options); });
  EXPECT_NE(message.find("redirects more than 3 times"), std::string::npos) << message;
}

TEST(Fetch, RetriesATimeoutThenReportsIt) {
  LoopbackServer server;
  TempDir dir;
  auto options = loopback_options();
  options.total_timeout = std::chrono::milliseconds(200);
  options.max_retries = 1;
  const auto message =
      message_of<core::DownloadFailed>([&] { fetch(server.url("/slow.zip"), dir / "data.zip", options); });
  EXPECT_NE(message.find("timed out"), std::string::npos) << message;
  EXPECT_NE(message.find("after 2 attempts"), std::string::npos) << message;
  EXPECT_EQ(server.slow_hits(), 2);
}

TEST(Fetch, RefusesLoopbackDestinationsUnlessAllowed) {
  LoopbackServer server;
  TempDir dir;
  auto options = loopback_options();
  options.allow_private_destinations = false;
  const auto message =
      message_of<core::DownloadFailed>([&] { fetch(server.url("/archive.zip"), dir / "data.zip", options); });
  EXPECT_NE(message.find("127.0.0.1, a loopback address"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "data.zip"));
}

TEST(Fetch, UnauthorizedOrForbiddenAsksForAPublicOrSignedUrlWithoutRetrying) {
  LoopbackServer server;
  TempDir dir;
  for (const std::string path : {"/private.zip", "/forbidden.zip"}) {
    const auto message = message_of<core::DownloadFailed>(
        [&] { fetch(server.url(path), dir / "data.zip", loopback_options()); });
    EXPECT_NE(message.find("the URL needs to be public or signed"), std::string::npos) << message;
    EXPECT_EQ(message.find("attempts"), std::string::npos) << "not retried: " << message;
  }
}

TEST(Fetch, AConnectionThatBreaksPartWayIsRetriedThenReported) {
  LoopbackServer server;
  TempDir dir;
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch(server.url("/broken.zip"), dir / "data.zip", loopback_options()); });
  EXPECT_NE(message.find("the connection broke"), std::string::npos) << message;
  EXPECT_NE(message.find("after 4 attempts"), std::string::npos) << message;
  EXPECT_EQ(server.broken_hits(), 4);
  EXPECT_FALSE(fs::exists(dir / "data.zip"));
  EXPECT_FALSE(fs::exists(dir / "data.zip.part"));
}

TEST(Fetch, ARedirectToAnotherSchemeIsRefusedByName) {
  LoopbackServer server;
  TempDir dir;
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch(server.url("/to-ftp.zip"), dir / "data.zip", loopback_options()); });
  EXPECT_NE(message.find("a scheme avtrain does not fetch"), std::string::npos) << message;
}

TEST(Fetch, AHostThatDoesNotResolveOrAClosedPortIsADownloadFailure) {
  TempDir dir;
  const auto unresolved = message_of<core::DownloadFailed>(
      [&] { fetch("http://no-such-host.invalid/clips.zip", dir / "data.zip", loopback_options()); });
  EXPECT_NE(unresolved.find("does not resolve"), std::string::npos) << unresolved;
  // A port bound a moment ago and closed without listening: connecting is refused at once.
  int closed_port = 0;
  {
    const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(::getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length), 0);
    closed_port = ntohs(address.sin_port);
    ::close(sock);
  }
  const auto refused = message_of<core::DownloadFailed>([&] {
    fetch("http://127.0.0.1:" + std::to_string(closed_port) + "/clips.zip", dir / "data.zip",
          loopback_options());
  });
  EXPECT_NE(refused.find("cannot be reached"), std::string::npos) << refused;
}

TEST(Fetch, PrivateLinkLocalAndMappedAddressesAreRefusedBeforeConnecting) {
  TempDir dir;
  FetchOptions options = loopback_options();
  options.allow_private_destinations = false;
  options.connect_timeout = std::chrono::seconds(2);
  for (const std::string host :
       {"10.1.2.3", "192.168.0.10", "169.254.169.254", "[::ffff:10.0.0.1]", "0.0.0.0"}) {
    const auto start = std::chrono::steady_clock::now();
    const auto message = message_of<core::DownloadFailed>(
        [&] { fetch("http://" + host + "/clips.zip", dir / "data.zip", options); });
    EXPECT_NE(message.find("address"), std::string::npos) << host << ": " << message;
    EXPECT_EQ(message.find("cannot be reached"), std::string::npos)
        << host << ": refused, not tried: " << message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << host;
  }
}

TEST(Fetch, ALocalFolderIsNotARegularFile) {
  TempDir dir;
  fs::create_directories(dir / "clips.zip");
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch((dir / "clips.zip").string(), dir / "unused.zip", FetchOptions{}); });
  EXPECT_NE(message.find("is not a regular file"), std::string::npos) << message;
}

TEST(Fetch, ChecksTheResolvedAddressNotTheHostName) {
  LoopbackServer server;
  TempDir dir;
  auto options = loopback_options();
  options.allow_private_destinations = false;
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch(server.url("/archive.zip", "localhost"), dir / "data.zip", options); });
  EXPECT_NE(message.find("loopback address"), std::string::npos) << message;
}

TEST(Fetch, CancelledProgressEndsTheRetryWait) {
  LoopbackServer server;
  TempDir dir;
  auto options = loopback_options();
  options.retry_backoff = std::chrono::seconds(30);
  core::Progress progress("download", /*draw=*/false);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    progress.cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(fetch(server.url("/down.zip"), dir / "data.zip", options, &progress), core::Cancelled);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Fetch, UsesALocalPathInPlace) {
  TempDir dir;
  write_file(dir / "clips.zip", "PK local");
  const auto fetched = fetch((dir / "clips.zip").string(), dir / "unused.zip", FetchOptions{});
  EXPECT_FALSE(fetched.downloaded);
  EXPECT_EQ(fetched.path, dir / "clips.zip");
  EXPECT_EQ(fetched.bytes, 8u);
  EXPECT_FALSE(fs::exists(dir / "unused.zip"));
}

TEST(Fetch, DecodesAFileUrl) {
  TempDir dir;
  write_file(dir / "my clips.zip", "PK");
  const auto fetched =
      fetch("file://" + (dir / "my%20clips.zip").string(), dir / "unused.zip", FetchOptions{});
  EXPECT_EQ(fetched.path, dir / "my clips.zip");
}

TEST(Fetch, MissingLocalFileIsADownloadFailureNamingIt) {
  TempDir dir;
  const auto message = message_of<core::DownloadFailed>(
      [&] { fetch((dir / "absent.zip").string(), dir / "unused.zip", FetchOptions{}); });
  EXPECT_NE(message.find("absent.zip does not exist"), std::string::npos) << message;
}

TEST(Fetch, LocalFileOutsideTheAllowedFolderIsInvalidInput) {
  TempDir dir;
  fs::create_directories(dir / "allowed");
  write_file(dir / "secret.zip", "PK");
  FetchOptions options;
  options.local_files = LocalFilePolicy::allow_under(dir / "allowed");
  try {
    fetch((dir / "allowed/../secret.zip").string(), dir / "unused.zip", options);
    FAIL() << "expected InvalidInput";
  } catch (const core::InvalidInput& error) {
    ASSERT_EQ(error.problems().size(), 1u);
    EXPECT_EQ(error.problems()[0].loc, (std::vector<std::string>{"body", "training_data_url"}));
    EXPECT_NE(error.problems()[0].msg.find("only under"), std::string::npos) << error.problems()[0].msg;
  }
  write_file(dir / "allowed/ok.zip", "PK");
  EXPECT_EQ(fetch((dir / "allowed/ok.zip").string(), dir / "unused.zip", options).bytes, 2u);
}

TEST(RedactedUrl, DropsQueryFragmentAndCredentials) {
  EXPECT_EQ(redacted_url("https://user:pw@example.com/a/b.zip?X-Amz-Signature=abc#frag"),
            "https://example.com/a/b.zip?...");
  EXPECT_EQ(redacted_url("http://example.com"), "http://example.com");
  EXPECT_EQ(redacted_url("/local/path.zip"), "/local/path.zip");
}

struct AddressCase {
  const char* address;
  AddressScope scope;
};
class NetworkAddressScope : public ::testing::TestWithParam<AddressCase> {};
TEST_P(NetworkAddressScope, Classifies) {
  const auto scope = classify_address(GetParam().address);
  ASSERT_TRUE(scope.has_value()) << GetParam().address;
  EXPECT_EQ(to_string(*scope), to_string(GetParam().scope)) << GetParam().address;
}
INSTANTIATE_TEST_SUITE_P(Table, NetworkAddressScope,
                         ::testing::Values(AddressCase{"8.8.8.8", AddressScope::global},
                                           AddressCase{"127.0.0.1", AddressScope::loopback},
                                           AddressCase{"127.255.1.2", AddressScope::loopback},
                                           AddressCase{"10.1.2.3", AddressScope::private_use},
                                           AddressCase{"172.16.0.1", AddressScope::private_use},
                                           AddressCase{"172.31.255.255", AddressScope::private_use},
                                           AddressCase{"172.32.0.1", AddressScope::global},
                                           AddressCase{"192.168.1.1", AddressScope::private_use},
                                           AddressCase{"100.64.0.1", AddressScope::private_use},
                                           AddressCase{"169.254.169.254", AddressScope::link_local},
                                           AddressCase{"0.0.0.0", AddressScope::unspecified},
                                           AddressCase{"224.0.0.1", AddressScope::multicast},
                                           AddressCase{"255.255.255.255", AddressScope::multicast},
                                           AddressCase{"240.0.0.1", AddressScope::reserved},
                                           AddressCase{"::1", AddressScope::loopback},
                                           AddressCase{"::", AddressScope::unspecified},
                                           AddressCase{"fe80::1", AddressScope::link_local},
                                           AddressCase{"fd00::1", AddressScope::private_use},
                                           AddressCase{"::ffff:127.0.0.1", AddressScope::loopback},
                                           AddressCase{"::ffff:10.0.0.1", AddressScope::private_use},
                                           AddressCase{"64:ff9b::a9fe:a9fe", AddressScope::link_local},
                                           AddressCase{"2606:4700::1111", AddressScope::global},
                                           AddressCase{"ff02::1", AddressScope::multicast}));

TEST(NetworkAddressScope, RejectsTextThatIsNotAnAddress) {
  EXPECT_FALSE(classify_address("example.com").has_value());
  EXPECT_FALSE(classify_address("999.1.1.1").has_value());
}

}  // namespace
}  // namespace avtrain::service
