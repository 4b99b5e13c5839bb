#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace avtrain::core {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPlainLineInterval = std::chrono::seconds(5);
constexpr int kBarWidth = 30;

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  if (total >= 3600) return fmt::format("{}:{:02}:{:02}", total / 3600, (total / 60) % 60, total % 60);
  return fmt::format("{:02}:{:02}", total / 60, total % 60);
}

}  // namespace

struct Progress::Shared {
  std::mutex mutex;
  std::vector<Listener> listeners;
  std::atomic<bool> cancelled{false};
  bool draw = true;
  bool terminal = false;
  bool bar_open = false;
  Clock::time_point last_plain_line{};
  std::string last_scope;
};

Progress::Progress(std::string name, bool draw)
    : shared_(std::make_shared<Shared>()), name_(std::move(name)), scope_start_(Clock::now()) {
  shared_->draw = draw;
  shared_->terminal = isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::shared_ptr<Shared> shared, std::string name, double begin, double end)
    : shared_(std::move(shared)), name_(std::move(name)), begin_(begin), end_(end), scope_start_(Clock::now()) {}

Progress Progress::stage(std::string name, double begin, double end) const {
  const double span = end_ - begin_;
  std::string full = name_.empty() ? std::move(name) : name_ + "/" + name;
  return Progress(shared_, std::move(full), begin_ + span * begin, begin_ + span * end);
}

void Progress::update(double fraction, std::string_view message) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const double elapsed = std::chrono::duration<double>(Clock::now() - scope_start_).count();
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : NAN;
  emit(fraction, std::string(message), NAN, eta);
}

void Progress::update_count(int64_t done, int64_t total, std::string_view unit) {
  const double fraction = total > 0 ? std::clamp(double(done) / double(total), 0.0, 1.0) : 0.0;
  const double elapsed = std::chrono::duration<double>(Clock::now() - scope_start_).count();
  const double rate = elapsed > 0 ? double(done) / elapsed : NAN;
  const double eta = rate > 0 ? double(total - done) / rate : NAN;
  emit(fraction, fmt::format("{}/{} {}", done, total, unit), rate, eta);
}

void Progress::emit(double scope_fraction, std::string message, double rate, double eta) {
  ProgressEvent event{name_, begin_ + (end_ - begin_) * scope_fraction, scope_fraction, std::move(message)};
  const std::lock_guard lock(shared_->mutex);
  for (const auto& listener : shared_->listeners) listener(event);
  if (!shared_->draw) return;

  const std::string rate_text = std::isfinite(rate) ? fmt::format(", {:.2f}/s", rate) : "";
  const std::string scope = event.scope.empty() ? "progress" : event.scope;
  if (shared_->terminal) {
    const int filled = static_cast<int>(std::lround(scope_fraction * kBarWidth));
    std::fprintf(stderr, "\r\033[K%s [%s%s] %5.1f%% %s%s ETA %s", scope.c_str(), std::string(filled, '#').c_str(),
                 std::string(kBarWidth - filled, '.').c_str(), 100 * scope_fraction, event.message.c_str(),
                 rate_text.c_str(), format_duration(eta).c_str());
    shared_->bar_open = true;
    if (scope_fraction >= 1) {
      std::fputc('\n', stderr);
      shared_->bar_open = false;
    }
    std::fflush(stderr);
    return;
  }
  // Not a terminal: a plain line at most every few seconds, and always at a scope's start and end.
  const auto now = Clock::now();
  const bool scope_changed = scope != shared_->last_scope;
  if (!scope_changed && scope_fraction < 1 && now - shared_->last_plain_line < kPlainLineInterval) return;
  shared_->last_plain_line = now;
  shared_->last_scope = scope;
  std::fprintf(stderr, "%s: %.1f%% %s%s ETA %s\n", scope.c_str(), 100 * scope_fraction, event.message.c_str(),
               rate_text.c_str(), format_duration(eta).c_str());
  std::fflush(stderr);
}

void Progress::add_listener(Listener listener) {
  const std::lock_guard lock(shared_->mutex);
  shared_->listeners.push_back(std::move(listener));
}

void Progress::cancel() { shared_->cancelled = true; }

bool Progress::cancelled() const { return shared_->cancelled; }

void Progress::throw_if_cancelled() const {
  if (shared_->cancelled) throw Cancelled(fmt::format("cancelled during {}", name_.empty() ? "the job" : name_));
}

void Progress::finish() {
  const std::lock_guard lock(shared_->mutex);
  if (shared_->bar_open) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
    shared_->bar_open = false;
  }
}

}  // namespace avtrain::core
