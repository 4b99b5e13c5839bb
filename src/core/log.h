#pragma once
// Logging: one named spdlog logger per layer, all writing to stderr (stdout carries results only)
// and, while a job runs, to its job.log. Include <spdlog/spdlog.h> in the .cpp that logs.

#include <spdlog/fwd.h>

#include <memory>
#include <string>
#include <string_view>

namespace avtrain::core {

// The logger of a layer ("core", "models", "media", ...), created on first use.
spdlog::logger& logger(std::string_view layer);

// "trace", "debug", "info", "warn", "error", "off"; AVTRAIN_LOG_LEVEL sets it at start-up.
void set_log_level(std::string_view level);

// Also write every logger's output to `path` (appending) until the returned guard is destroyed.
class LogFileSink {
 public:
  explicit LogFileSink(const std::string& path);
  ~LogFileSink();
  LogFileSink(const LogFileSink&) = delete;
  LogFileSink& operator=(const LogFileSink&) = delete;

 private:
  std::shared_ptr<spdlog::sinks::sink> sink_;
};

}  // namespace avtrain::core
