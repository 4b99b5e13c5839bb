#pragma once
// cpp-httplib serves each connection on one thread from its task queue, for the connection's whole life:
// a status stream holds its thread until the job ends, a keep-alive client until it goes quiet. With a
// fixed pool (the first wave's 32 threads) 32 watchers froze the API. This queue grows a thread whenever
// none is idle, up to `max_threads` connections at once (then connections wait their turn), and lets
// threads beyond `min_threads` go after `idle_timeout` without work. A watcher's thread sleeps on its
// job's changes (service/job_changes.h), so hundreds of them cost memory, not CPU.
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace avtrain::service {

class ElasticTaskQueue : public httplib::TaskQueue {
 public:
  ElasticTaskQueue(size_t min_threads, size_t max_threads, std::chrono::seconds idle_timeout);
  ~ElasticTaskQueue() override;

  void enqueue(std::function<void()> task) override;
  // Runs what is queued, then waits for every thread to end.
  void shutdown() override;

 private:
  void work();
  void start_thread();  // with mutex_ held

  const size_t min_threads_, max_threads_;
  const std::chrono::seconds idle_timeout_;
  std::mutex mutex_;
  std::condition_variable work_ready_, all_ended_;
  std::deque<std::function<void()>> tasks_;
  size_t threads_ = 0, idle_ = 0;
  bool shutting_down_ = false;
};

}  // namespace avtrain::service
