#include "service/elastic_task_queue.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace avtrain::service {

ElasticTaskQueue::ElasticTaskQueue(size_t min_threads, size_t max_threads, std::chrono::seconds idle_timeout)
    : min_threads_(min_threads),
      max_threads_(std::max(min_threads, max_threads)),
      idle_timeout_(idle_timeout) {
  const std::lock_guard lock(mutex_);
  for (size_t started = 0; started < min_threads_; ++started) start_thread();
}

ElasticTaskQueue::~ElasticTaskQueue() { shutdown(); }

void ElasticTaskQueue::start_thread() {
  ++threads_;
  ++idle_;
  // Detached: a thread that leaves when idle cannot be joined by anyone; shutdown() waits on the count.
  std::thread([this] { work(); }).detach();
}

void ElasticTaskQueue::enqueue(std::function<void()> task) {
  {
    const std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
    // Idle threads take queued tasks one each; only the rest need new threads.
    if (tasks_.size() > idle_ && threads_ < max_threads_) start_thread();
  }
  work_ready_.notify_one();
}

void ElasticTaskQueue::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    const bool woken =
        work_ready_.wait_for(lock, idle_timeout_, [this] { return shutting_down_ || !tasks_.empty(); });
    if (tasks_.empty() && (shutting_down_ || (!woken && threads_ > min_threads_))) break;
    if (tasks_.empty()) continue;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    --idle_;
    lock.unlock();
    task();
    task = nullptr;  // what the task captured goes before the thread counts as idle
    lock.lock();
    ++idle_;
  }
  --idle_;
  --threads_;
  if (threads_ == 0) all_ended_.notify_all();
}

void ElasticTaskQueue::shutdown() {
  std::unique_lock lock(mutex_);
  shutting_down_ = true;
  work_ready_.notify_all();
  all_ended_.wait(lock, [this] { return threads_ == 0; });
}

}  // namespace avtrain::service
