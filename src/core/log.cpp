#include "core/log.h"

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
  sink_ = file;
  registry().sinks->add_sink(sink_);
}

LogFileSink::~LogFileSink() {
  registry().sinks->remove_sink(sink_);
  sink_->flush();
}

}  // namespace avtrain::core
