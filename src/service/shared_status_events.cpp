#include "service/shared_status_events.h"

#include <algorithm>

namespace avtrain::service {

std::shared_ptr<SharedStatusEvents::Slot> SharedStatusEvents::slot_for(const StatusEventKey& key) {
  const std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  auto found = jobs_.find(key.job_id);
  if (found == jobs_.end()) {
    if (jobs_.size() >= kMaxJobs) {
      jobs_.erase(std::min_element(jobs_.begin(), jobs_.end(), [](const auto& a, const auto& b) {
        return a.second.used_at < b.second.used_at;
      }));
    }
    found = jobs_.emplace(key.job_id, JobSlots{}).first;
  }
  JobSlots& job = found->second;
  if (key.change < job.change) return nullptr;
  if (key.change > job.change) {
    job.change = key.change;
    job.slots.clear();
  }
  job.used_at = now;
  auto& slot = job.slots[{key.prefix, key.with_logs, key.logs_after}];
  if (!slot) slot = std::make_shared<Slot>();
  return slot;
}

std::shared_ptr<const StatusEvent> SharedStatusEvents::get(const StatusEventKey& key,
                                                           std::optional<std::chrono::milliseconds> max_age,
                                                           const Render& render) {
  const auto render_shared = [&]() -> std::shared_ptr<const StatusEvent> {
    auto event = render();
    return event ? std::make_shared<const StatusEvent>(std::move(*event)) : nullptr;
  };
  const auto slot = slot_for(key);
  if (!slot) return render_shared();
  const std::lock_guard lock(slot->mutex);
  const auto now = std::chrono::steady_clock::now();
  if (!slot->event || (max_age && now - slot->rendered_at > *max_age)) {
    slot->event = render_shared();
    slot->rendered_at = now;
  }
  return slot->event;
}

}  // namespace avtrain::service
