#pragma once
// Change notices for jobs, within one process: the store announces each change to a job (its status,
// progress, logs, previews) and status streams sleep until their job changes instead of polling the
// database. Changes that move every queued job (one leaving the queue shifts the positions of the
// rest) are announced to all. Another process writing the same store is not seen: streams still
// re-read on a slow timer for that.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace avtrain::service {

class JobChanges {
 public:
  // The version a watcher starts from: waits return once a later change touches its job.
  uint64_t version() const;

  void changed(std::string_view id);
  void changed_all();

  // The version of the last change that touched `id` (0: none in this process yet).
  uint64_t last_change(std::string_view id) const;

  // Blocks until a change after `seen` touches `id` (or all jobs), or `timeout` passes; returns the
  // version to pass next time (that change's: the same for every watcher of the job). A return
  // without a change is a timeout (the version is unchanged).
  uint64_t wait(std::string_view id, uint64_t seen, std::chrono::milliseconds timeout) const;

 private:
  uint64_t last_change_of(std::string_view id) const;  // with mutex_ held

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  uint64_t version_ = 0;
  uint64_t all_changed_at_ = 0;
  std::unordered_map<std::string, uint64_t> job_changed_at_;
};

}  // namespace avtrain::service
