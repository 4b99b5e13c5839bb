#pragma once
// The events of a job's status streams, rendered once per change and shared. Every open stream of a
// job wakes at each of its changes; each reading the job, its logs and its previews itself would put
// hundreds of queries on the store's one connection per change, and a plain status request would wait
// behind them (a p99 of 100 ms with 500 streams). Streams at the same point of the log (all of them,
// once they are past their first event) receive the same text, so the first to ask renders it and
// the others take it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>

namespace avtrain::service {

struct StatusEvent {
  std::string text;           // the whole server-sent event ("data: {...}\n\n")
  int64_t last_log = 0;       // the sequence of the last log line it carries: where the next one starts
  bool has_new_logs = false;  // it carries log lines (sent even when the rest is unchanged)
  bool finished = false;      // the job's last event: the stream ends after it
};

// Which event: the job at one change (JobChanges::wait's version), for a stream with its URL prefix,
// with or without logs, and its log position.
struct StatusEventKey {
  std::string job_id;
  uint64_t change = 0;
  std::string prefix;
  bool with_logs = false;
  int64_t logs_after = 0;
};

class SharedStatusEvents {
 public:
  using Render = std::function<std::optional<StatusEvent>()>;

  // The event for `key`: rendered by `render` for the first caller, or again once older than
  // `max_age` when one is given (a re-read that no change announced); concurrent callers with the same key
  // wait for one render. nullptr when `render` finds no job. A key older than the job's latest change seen is
  // rendered for its caller alone.
  std::shared_ptr<const StatusEvent> get(const StatusEventKey& key,
                                         std::optional<std::chrono::milliseconds> max_age,
                                         const Render& render);

 private:
  struct Slot {
    std::mutex mutex;
    std::shared_ptr<const StatusEvent> event;
    std::chrono::steady_clock::time_point rendered_at;
  };
  // One job's slots at its latest change; older changes' slots are dropped when a newer one arrives.
  struct JobSlots {
    uint64_t change = 0;
    std::chrono::steady_clock::time_point used_at;
    std::map<std::tuple<std::string, bool, int64_t>, std::shared_ptr<Slot>> slots;
  };
  static constexpr size_t kMaxJobs = 1024;  // jobs kept; the least recently asked for goes first

  std::shared_ptr<Slot> slot_for(const StatusEventKey& key);  // nullptr: an outdated change

  std::mutex mutex_;
  std::unordered_map<std::string, JobSlots> jobs_;
};

}  // namespace avtrain::service
