#pragma once
// Logging: one named spdlog logger per layer, all writing to stderr (stdout carries results only)
// and, while a job runs, to its job.log. Include <spdlog/spdlog.h> in the .cpp that logs.

#include <spdlog/fwd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace avtrain::core {

// The logger of a layer ("core", "models", "media", ...), created on first use.
spdlog::logger& logger(std::string_view layer);

// "trace", "debug", "info", "warn", "error", "off"; AVTRAIN_LOG_LEVEL sets it at start-up.
void set_log_level(std::string_view level);

// Also write every logger's output logged by the constructing thread to `path` (appending) until the
// guard is destroyed. Thread-scoped because a server runs several jobs at once, each on its own
// thread, and each job.log must hold only its own job's lines.
class LogFileSink {
 public:
  explicit LogFileSink(const std::string& path);
  ~LogFileSink();
  LogFileSink(const LogFileSink&) = delete;
  LogFileSink& operator=(const LogFileSink&) = delete;

 private:
  std::shared_ptr<spdlog::sinks::sink> sink_;
};

struct LogLine {
  std::chrono::system_clock::time_point time;
  std::string level;  // "info", "warning", "error", ...
  std::string logger;
  std::string message;
};

// Hands every line logged by the constructing thread (at or above the loggers' level) to `listener`
// until destroyed: the server's status logs. The listener runs on the logging thread.
class LogCapture {
 public:
  explicit LogCapture(std::function<void(const LogLine&)> listener);
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

 private:
  std::shared_ptr<spdlog::sinks::sink> sink_;
};

}  // namespace avtrain::core
