// JobChanges: a watcher wakes for its own job's changes and for changes to all, not for other jobs'.
#include "service/job_changes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace avtrain::service {
namespace {

using std::chrono::milliseconds;

TEST(JobChanges, AWatcherWakesForItsJobAndForAllButNotForOthers) {
  JobChanges changes;
  const uint64_t start = changes.version();
  changes.changed("other");
  EXPECT_EQ(changes.wait("mine", start, milliseconds(20)), start) << "woken by another job's change";
  changes.changed("mine");
  const uint64_t after_mine = changes.wait("mine", start, milliseconds(20));
  EXPECT_GT(after_mine, start);
  EXPECT_EQ(changes.wait("mine", after_mine, milliseconds(20)), after_mine);
  changes.changed_all();
  EXPECT_GT(changes.wait("mine", after_mine, milliseconds(20)), after_mine);
}

TEST(JobChanges, WatchersOfAJobGetTheSameVersionWhateverElseChanged) {
  JobChanges changes;
  const uint64_t start = changes.version();
  changes.changed("mine");
  const uint64_t early = changes.wait("mine", start, milliseconds(20));
  changes.changed("other");  // a later change elsewhere: a watcher waking now must get the same version
  const uint64_t late = changes.wait("mine", start, milliseconds(20));
  EXPECT_EQ(early, late);
  EXPECT_EQ(changes.last_change("mine"), early);
  EXPECT_EQ(changes.last_change("never"), 0u);
  changes.changed_all();
  EXPECT_GT(changes.last_change("never"), early);
}

TEST(JobChanges, ManyWatchersAllReachTheLastChange) {
  JobChanges changes;
  constexpr int kWatchers = 64, kChanges = 200;
  constexpr uint64_t kLast = kChanges + 1;  // the announcement to all that ends the test
  std::atomic<int> reached{0};
  std::vector<std::thread> watchers;
  for (int watcher = 0; watcher < kWatchers; ++watcher) {
    watchers.emplace_back([&, watcher] {
      const std::string id = "job-" + std::to_string(watcher % 4);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      // Changes may coalesce (one wake for several), but none is lost: the last one is always seen.
      for (uint64_t seen = 0; std::chrono::steady_clock::now() < deadline;) {
        seen = changes.wait(id, seen, milliseconds(100));
        if (seen == kLast) {
          ++reached;
          return;
        }
      }
    });
  }
  for (int change = 0; change < kChanges; ++change) changes.changed("job-" + std::to_string(change % 4));
  changes.changed_all();
  for (auto& watcher : watchers) watcher.join();
  EXPECT_EQ(reached.load(), kWatchers);
}

}  // namespace
}  // namespace avtrain::service
