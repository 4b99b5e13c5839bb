#include "service/job_changes.h"

#include <algorithm>

namespace avtrain::service {

uint64_t JobChanges::version() const {
  const std::lock_guard lock(mutex_);
  return version_;
}

void JobChanges::changed(std::string_view id) {
  {
    const std::lock_guard lock(mutex_);
    job_changed_at_[std::string(id)] = ++version_;
  }
  changed_.notify_all();
}

void JobChanges::changed_all() {
  {
    const std::lock_guard lock(mutex_);
    all_changed_at_ = ++version_;
    // Every job is now as recent as the announcement to all: the per-job entries say nothing more.
    job_changed_at_.clear();
  }
  changed_.notify_all();
}

uint64_t JobChanges::last_change(std::string_view id) const {
  const std::lock_guard lock(mutex_);
  return last_change_of(id);
}

uint64_t JobChanges::last_change_of(std::string_view id) const {
  const auto found = job_changed_at_.find(std::string(id));
  return std::max(all_changed_at_, found == job_changed_at_.end() ? uint64_t{0} : found->second);
}

uint64_t JobChanges::wait(std::string_view id, uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return last_change_of(id) > seen; });
  return std::max(last_change_of(id), seen);
}

}  // namespace avtrain::service
