// The HTTP API (service/http_api.h) on any bytes a client could send: a real server in this process, on
// loopback, with an API key, its store and uploads in a scratch folder, answers each input over a
// fresh connection. Routes, query strings, headers and bodies reach the handlers; the server must keep
// answering (every reply starts with an HTTP status line) and never crash.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "fuzz_support.h"
#include "service/http_api.h"
#include "service/job_store.h"

namespace {

using namespace avtrain;

struct Server {
  Server() : store(fuzz::scratch_dir() / "jobs.sqlite3") {
    std::ofstream(fuzz::scratch_dir() / "keys.txt") << "fuzz-key\n";
    service::ApiSettings settings;
    settings.port = 0;
    settings.api_keys = std::make_shared<service::ApiKeys>(fuzz::scratch_dir() / "keys.txt");
    settings.jobs_dir = fuzz::scratch_dir() / "jobs";  // DELETE of a job the input cancelled removes it there
    settings.uploads_dir = fuzz::scratch_dir() / "uploads";
    settings.max_upload_bytes = 1 << 20;
    api = std::make_unique<service::QueueApi>(store, settings);
    thread = std::thread([this] { api->serve(nullptr); });
  }
  ~Server() {  // at exit: a joinable thread left to its destructor would terminate the process
    api->stop();
    thread.join();
  }
  service::JobStore store;
  std::unique_ptr<service::QueueApi> api;
  std::thread thread;
};

// How a connection ends its sending side. A fuzz input's request may promise more body than it holds:
// closing the sending side ends the server's wait at once. cpp-httplib then writes no reply (it takes a
// half-closed peer for gone), so a request whose reply is checked keeps its side open.
enum class AfterSending { kHalfClose, kKeepOpen };

// Sends `request` on a new connection and reads the reply until the server closes it (or `wait_seconds`
// pass without a byte).
int last_receive_error = 0;  // errno of the last failed receive (0: the server closed the connection)

std::string exchange(int port, std::string_view request, AfterSending after_sending, int wait_seconds) {
  last_receive_error = 0;
  const int socket_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (socket_fd < 0) std::abort();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{wait_seconds, 0};
  ::setsockopt(socket_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(socket_fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  // libFuzzer's timer signal (SIGALRM, each second) interrupts blocking calls: EINTR is retried.
  // An interrupted connect goes on by itself: asking again answers EALREADY until it is done, then EISCONN.
  for (;;) {
    if (::connect(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 || errno == EISCONN)
      break;
    if (errno != EINTR && errno != EALREADY) std::abort();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(socket_fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server may close early (a refused body)
    sent += static_cast<size_t>(n);
  }
  if (after_sending == AfterSending::kHalfClose) ::shutdown(socket_fd, SHUT_WR);
  std::string reply;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(socket_fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) last_receive_error = errno;
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  ::close(socket_fd);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Server server;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  exchange(server.api->port(), input, AfterSending::kHalfClose, 2);
  // Whatever that did, the server still answers a well-formed request.
  const auto health = [] {
    return exchange(server.api->port(),
                    "GET /fal-ai/x/requests/00000000-0000-0000-0000-000000000000/status HTTP/1.1\r\n"
                    "Host: fuzz\r\nAuthorization: Key fuzz-key\r\nConnection: close\r\n\r\n",
                    AfterSending::kKeepOpen, 30);  // a loaded machine (fuzzers side by side) answers late
  };
  const auto asked = std::chrono::steady_clock::now();
  const std::string reply = health();
  if (reply.rfind("HTTP/1.1 404", 0) != 0) {
    const auto waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
    const int error = last_receive_error;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const bool answers_later = health().rfind("HTTP/1.1 404", 0) == 0;
    std::fprintf(stderr,
                 "the server did not answer the health request: reply \"%s\" after %.3f s (%s); a second "
                 "request 1 s later %s\n",
                 reply.substr(0, 200).c_str(), waited, error ? std::strerror(error) : "connection closed",
                 answers_later ? "was answered" : "was not answered either");
    std::abort();
  }
  return 0;
}
