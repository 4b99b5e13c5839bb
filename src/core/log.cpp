#include "core/log.h"

#include <spdlog/details/os.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>

namespace avtrain::core {
namespace {

struct Registry {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::dist_sink_mt> sinks = std::make_shared<spdlog::sinks::dist_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::info;

  Registry() {
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");
    sinks->add_sink(console);
    if (const char* env = std::getenv("AVTRAIN_LOG_LEVEL")) level = spdlog::level::from_str(env);
  }
};

Registry& registry() {
  static Registry instance;
  return instance;
}

// Passes on only the lines logged by the thread that created it.
class ThreadSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ThreadSink(std::function<void(const spdlog::details::log_msg&)> deliver)
      : thread_(spdlog::details::os::thread_id()), deliver_(std::move(deliver)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (message.thread_id == thread_) deliver_(message);
  }
  void flush_() override {}

 private:
  size_t thread_;
  std::function<void(const spdlog::details::log_msg&)> deliver_;
};

}  // namespace

spdlog::logger& logger(std::string_view layer) {
  auto& reg = registry();
  const std::lock_guard lock(reg.mutex);
  const std::string name(layer);
  if (auto existing = spdlog::get(name)) return *existing;
  auto created = std::make_shared<spdlog::logger>(name, reg.sinks);
  created->set_level(reg.level);
  spdlog::register_logger(created);
  return *created;
}

void set_log_level(std::string_view level) {
  auto& reg = registry();
  const std::lock_guard lock(reg.mutex);
  reg.level = spdlog::level::from_str(std::string(level));
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& each) { each->set_level(reg.level); });
}

LogFileSink::LogFileSink(const std::string& path) {
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
  // Each line is flushed: a job killed mid-way keeps its log up to its last line.
  sink_ = std::make_shared<ThreadSink>([file](const spdlog::details::log_msg& message) {
    file->log(message);
    file->flush();
  });
  registry().sinks->add_sink(sink_);
}

LogFileSink::~LogFileSink() { registry().sinks->remove_sink(sink_); }

LogCapture::LogCapture(std::function<void(const LogLine&)> listener) {
  sink_ =
      std::make_shared<ThreadSink>([listener = std::move(listener)](const spdlog::details::log_msg& message) {
        const auto level = spdlog::level::to_string_view(message.level);
        listener(LogLine{message.time, std::string(level.data(), level.size()),
                         std::string(message.logger_name.data(), message.logger_name.size()),
                         std::string(message.payload.data(), message.payload.size())});
      });
  registry().sinks->add_sink(sink_);
}

LogCapture::~LogCapture() { registry().sinks->remove_sink(sink_); }

}  // namespace avtrain::core
