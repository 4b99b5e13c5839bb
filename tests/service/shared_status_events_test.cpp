// Status stream events shared per change (service/shared_status_events.h): the streams of a job woken by
// one change render it once between them; every other key renders its own; an old change is never shared.
#include "service/shared_status_events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace avtrain::service {
namespace {

using std::chrono::milliseconds;

// A render that counts its calls and says which call produced the event.
struct CountingRender {
  std::atomic<int> calls{0};
  SharedStatusEvents::Render render(int64_t last_log = 7) {
    return [this, last_log]() -> std::optional<StatusEvent> {
      const int call = ++calls;
      std::this_thread::sleep_for(milliseconds(5));  // long enough for the other streams to pile up
      return StatusEvent{"data: " + std::to_string(call) + "\n\n", last_log, true, false};
    };
  }
};

TEST(SharedStatusEvents, StreamsWokenByOneChangeShareOneRender) {
  SharedStatusEvents events;
  CountingRender counting;
  const auto render = counting.render();
  std::vector<std::thread> streams;
  std::vector<std::string> received(50);
  for (size_t stream = 0; stream < received.size(); ++stream) {
    streams.emplace_back([&, stream] {
      received[stream] = events.get({"job", 3, "/v1", true, 0}, std::nullopt, render)->text;
    });
  }
  for (auto& stream : streams) stream.join();
  EXPECT_EQ(counting.calls.load(), 1);
  for (const auto& text : received) EXPECT_EQ(text, "data: 1\n\n");
}

TEST(SharedStatusEvents, EachChangePrefixLogPositionAndLogChoiceIsItsOwnEvent) {
  SharedStatusEvents events;
  CountingRender counting;
  const auto render = counting.render();
  EXPECT_EQ(events.get({"job", 3, "/v1", true, 0}, std::nullopt, render)->text, "data: 1\n\n");
  EXPECT_EQ(events.get({"job", 3, "/v1", true, 0}, std::nullopt, render)->text, "data: 1\n\n");
  EXPECT_EQ(events.get({"job", 3, "/v1", true, 7}, std::nullopt, render)->text, "data: 2\n\n");
  EXPECT_EQ(events.get({"job", 3, "/v1", false, 0}, std::nullopt, render)->text, "data: 3\n\n");
  EXPECT_EQ(events.get({"job", 3, "/fal-ai/x", true, 0}, std::nullopt, render)->text, "data: 4\n\n");
  EXPECT_EQ(events.get({"other", 3, "/v1", true, 0}, std::nullopt, render)->text, "data: 5\n\n");
  EXPECT_EQ(events.get({"job", 4, "/v1", true, 0}, std::nullopt, render)->text, "data: 6\n\n");
  // A stream still at an older change than the latest seen gets a fresh render, never a stale share.
  EXPECT_EQ(events.get({"job", 3, "/v1", true, 0}, std::nullopt, render)->text, "data: 7\n\n");
  EXPECT_EQ(events.get({"job", 3, "/v1", true, 0}, std::nullopt, render)->text, "data: 8\n\n");
}

TEST(SharedStatusEvents, AnUnannouncedRereadRendersAgainOnceTheEventIsOlderThanAsked) {
  SharedStatusEvents events;
  CountingRender counting;
  const auto render = counting.render();
  EXPECT_EQ(events.get({"job", 1, "/v1", true, 0}, milliseconds(200), render)->text, "data: 1\n\n");
  EXPECT_EQ(events.get({"job", 1, "/v1", true, 0}, milliseconds(200), render)->text, "data: 1\n\n");
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_EQ(events.get({"job", 1, "/v1", true, 0}, milliseconds(200), render)->text, "data: 2\n\n");
  EXPECT_EQ(events.get({"job", 1, "/v1", true, 0}, std::nullopt, render)->text, "data: 2\n\n");
}

TEST(SharedStatusEvents, AJobThatIsGoneIsNoEventAndIsAskedAgain) {
  SharedStatusEvents events;
  int calls = 0;
  const SharedStatusEvents::Render gone = [&]() -> std::optional<StatusEvent> {
    ++calls;
    return std::nullopt;
  };
  EXPECT_EQ(events.get({"job", 1, "/v1", true, 0}, std::nullopt, gone), nullptr);
  EXPECT_EQ(events.get({"job", 1, "/v1", true, 0}, std::nullopt, gone), nullptr);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace avtrain::service
