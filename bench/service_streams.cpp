// Status streams at scale (issue 25.4): one `avtrain serve` (the tiny model on the CPU) runs a job while
// --subscribers clients hold `status/stream?logs=1` open and --pollers clients poll `status` back to back.
// Prints the status latency the pollers saw (p50/p99/max), what the subscribers received, and the
// server's threads and memory. Every subscriber must receive every log line exactly once, in order
// (checked against the job's whole log read at the end); the program exits 1 when one did not.
//
//   build/bench/bench_service_streams [--subscribers 500] [--pollers 8] [--steps 600] [--avtrain
//   build/avtrain]
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPrefix = "/fal-ai/ltx23-trainer-v2";

struct Options {
  int subscribers = 500;
  int pollers = 8;
  int steps = 600;
  fs::path avtrain = "build/avtrain";
};

Options parse_options(int argc, char** argv) {
  Options options;
  for (int at = 1; at + 1 < argc; at += 2) {
    const std::string name = argv[at], value = argv[at + 1];
    if (name == "--subscribers")
      options.subscribers = std::stoi(value);
    else if (name == "--pollers")
      options.pollers = std::stoi(value);
    else if (name == "--steps")
      options.steps = std::stoi(value);
    else if (name == "--avtrain")
      options.avtrain = value;
    else
      throw std::runtime_error("unknown option " + name);
  }
  return options;
}

int run(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& word : argv) line += "'" + word + "' ";
  return std::system((line + "> /dev/null 2>&1").c_str());
}

// `avtrain serve` as a child, its stdout read until it says where it listens.
struct Server {
  pid_t pid = -1;
  int port = 0;

  Server(const Options& options, const fs::path& dir) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid = fork();
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      const int log = open((dir / "serve.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log, STDERR_FILENO);
      setenv("OMP_NUM_THREADS", "1", 1);
      const std::vector<std::string> args = {options.avtrain.string(),
                                             "serve",
                                             "--listen",
                                             "127.0.0.1:0",
                                             "--data",
                                             (dir / "data").string(),
                                             "--model",
                                             "tiny",
                                             "--text-encoder",
                                             "tiny",
                                             "--device",
                                             "cpu",
                                             "--allow-local-files",
                                             dir.string(),
                                             "--demo-size",
                                             "32x32",
                                             "--demo-frames",
                                             "9",
                                             "--demo-steps",
                                             std::to_string(options.steps)};
      std::vector<char*> raw;
      for (const auto& arg : args) raw.push_back(const_cast<char*>(arg.c_str()));
      raw.push_back(nullptr);
      execv(raw[0], raw.data());
      _exit(127);
    }
    close(out[1]);
    FILE* stream = fdopen(out[0], "r");
    char buffer[512];
    while (fgets(buffer, sizeof(buffer), stream)) {
      const std::string text = buffer;
      const auto colon = text.rfind(':');
      if (text.find("listening on") != std::string::npos && colon != std::string::npos) {
        port = std::stoi(text.substr(colon + 1));
        break;
      }
    }
    if (port == 0)
      throw std::runtime_error("avtrain serve did not start: see " + (dir / "serve.log").string());
  }
  ~Server() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  // Threads and resident memory, from /proc.
  std::pair<int, long> threads_and_rss_kib() const {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    int threads = 0;
    long rss = 0;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Threads:", 0) == 0) threads = std::stoi(line.substr(8));
      if (line.rfind("VmRSS:", 0) == 0) rss = std::stol(line.substr(6));
    }
    return {threads, rss};
  }
};

struct Subscriber {
  std::vector<std::string> lines;  // every log line's message, in the order received
  int events = 0;
  bool completed = false;
};

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(fraction * values.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const fs::path dir = fs::temp_directory_path() / ("avtrain-bench-streams-" + std::to_string(getpid()));
  fs::create_directories(dir);
  if (run({options.avtrain.string(), "demo-dataset", "--out", (dir / "demo").string(), "--pairs", "2",
           "--size", "32", "--seconds", "0.5"}) != 0) {
    std::fprintf(stderr, "demo-dataset failed (is %s built?)\n", options.avtrain.c_str());
    return 2;
  }
  int failures = 0;
  {
    Server server(options, dir);
    httplib::Client api("127.0.0.1", server.port);
    const json request = {{"training_data_url", "file://" + (dir / "demo" / "pairs.zip").string()},
                          {"trigger_phrase", "ZQX"},
                          {"number_of_steps", 100}};
    const auto submitted = api.Post(std::string(kPrefix) + "/av2av", request.dump(), "application/json");
    if (!submitted || submitted->status != 200) {
      std::fprintf(stderr, "submission failed\n");
      return 2;
    }
    const std::string id = json::parse(submitted->body).at("request_id");
    const std::string status_path = std::string(kPrefix) + "/requests/" + id + "/status";

    std::vector<Subscriber> subscribers(static_cast<size_t>(options.subscribers));
    std::atomic<int> open_streams{0};
    std::vector<std::thread> threads;
    const auto connecting = Clock::now();
    for (auto& subscriber : subscribers) {
      threads.emplace_back([&, &subscriber = subscriber] {
        httplib::Client client("127.0.0.1", server.port);
        client.set_read_timeout(std::chrono::minutes(10));
        std::string pending;
        bool counted = false;
        client.Get(status_path + "/stream?logs=1", [&](const char* data, size_t size) {
          if (!counted) {
            counted = true;
            ++open_streams;
          }
          pending.append(data, size);
          for (size_t end; (end = pending.find("\n\n")) != std::string::npos;) {
            const std::string event = pending.substr(0, end);
            pending.erase(0, end + 2);
            if (event.rfind("data: ", 0) != 0) continue;
            const auto status = json::parse(event.substr(6));
            ++subscriber.events;
            if (status.contains("logs") && status["logs"].is_array()) {
              for (const auto& entry : status["logs"]) subscriber.lines.push_back(entry.at("message"));
            }
            if (status.at("status") == "COMPLETED") subscriber.completed = true;
          }
          return true;
        });
      });
    }

    // Pollers: status requests back to back while the streams are open, each one timed.
    std::mutex latency_mutex;
    std::vector<double> latencies_ms;
    std::atomic<bool> done{false};
    std::vector<std::thread> pollers;
    for (int poller = 0; poller < options.pollers; ++poller) {
      pollers.emplace_back([&] {
        httplib::Client client("127.0.0.1", server.port);
        std::vector<double> mine;
        while (!done) {
          const auto start = Clock::now();
          const auto answer = client.Get(status_path);
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
          if (answer && (answer->status == 200 || answer->status == 202)) mine.push_back(ms);
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        const std::lock_guard lock(latency_mutex);
        latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
      });
    }
    int peak_threads = 0;
    long peak_rss = 0;
    double all_open_s = -1;
    while (true) {
      const auto [threads_now, rss] = server.threads_and_rss_kib();
      peak_threads = std::max(peak_threads, threads_now);
      peak_rss = std::max(peak_rss, rss);
      if (all_open_s < 0 && open_streams == options.subscribers) {
        all_open_s = std::chrono::duration<double>(Clock::now() - connecting).count();
      }
      const auto status = api.Get(status_path);
      if (status && status->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (auto& thread : threads) thread.join();
    done = true;
    for (auto& poller : pollers) poller.join();

    const auto final_status = api.Get(status_path + "?logs=1");
    const auto final_body = json::parse(final_status->body);
    std::vector<std::string> expected;
    for (const auto& entry : final_body.at("logs")) expected.push_back(entry.at("message"));
    int exact = 0, completed = 0;
    size_t events = 0;
    for (const auto& subscriber : subscribers) {
      exact += subscriber.lines == expected;
      completed += subscriber.completed;
      events += static_cast<size_t>(subscriber.events);
    }
    failures = options.subscribers - exact;

    std::printf("| measure | value |\n|---|---|\n");
    std::printf("| subscribers (status/stream?logs=1) | %d |\n", options.subscribers);
    std::printf("| all streams open after | %.2f s |\n", all_open_s);
    std::printf("| subscribers that saw COMPLETED | %d |\n", completed);
    std::printf("| subscribers with every log line once, in order | %d (of %zu lines) |\n", exact,
                expected.size());
    std::printf("| events per subscriber (mean) | %.1f |\n",
                static_cast<double>(events) / options.subscribers);
    std::printf("| pollers | %d |\n", options.pollers);
    std::printf("| status requests timed | %zu |\n", latencies_ms.size());
    std::printf("| status latency p50 | %.2f ms |\n", percentile(latencies_ms, 0.50));
    std::printf("| status latency p99 | %.2f ms |\n", percentile(latencies_ms, 0.99));
    std::printf("| status latency max | %.2f ms |\n", percentile(latencies_ms, 1.0));
    std::printf("| server threads (peak) | %d |\n", peak_threads);
    std::printf("| server RSS (peak) | %.1f MiB |\n", peak_rss / 1024.0);
  }
  fs::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
