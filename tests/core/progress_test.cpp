#include "core/progress.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/error.h"

namespace avtrain::core {
namespace {

TEST(Progress, StagesMapTheirFractionIntoTheParentRange) {
  Progress root("job", /*draw=*/false);
  std::vector<ProgressEvent> events;
  root.add_listener([&](const ProgressEvent& event) { events.push_back(event); });
  auto training = root.stage("training", 0.5, 0.9);
  training.update(0.5, "step 50/100");
  auto inner = training.stage("validating", 0.5, 1.0);
  inner.update(1.0);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].scope, "job/training");
  EXPECT_DOUBLE_EQ(events[0].fraction, 0.7);
  EXPECT_DOUBLE_EQ(events[0].scope_fraction, 0.5);
  EXPECT_EQ(events[0].message, "step 50/100");
  EXPECT_EQ(events[1].scope, "job/training/validating");
  EXPECT_DOUBLE_EQ(events[1].fraction, 0.9);
}

TEST(Progress, CountsReportDoneOverTotalAndClampTheFraction) {
  Progress root("", false);
  ProgressEvent last;
  root.add_listener([&](const ProgressEvent& event) { last = event; });
  root.update_count(3, 12, "steps");
  EXPECT_EQ(last.message, "3/12 steps");
  EXPECT_DOUBLE_EQ(last.fraction, 0.25);
  root.update(7.0);
  EXPECT_DOUBLE_EQ(last.fraction, 1.0);
}

TEST(Progress, CancelFromAnotherThreadStopsWorkAtTheNextCheckNamingTheScope) {
  Progress root("job", false);
  const auto encoding = root.stage("encoding", 0, 1);
  EXPECT_NO_THROW(encoding.throw_if_cancelled());
  std::thread([copy = root]() mutable { copy.cancel(); }).join();
  EXPECT_TRUE(encoding.cancelled());
  try {
    encoding.throw_if_cancelled();
    FAIL() << "expected Cancelled";
  } catch (const Cancelled& error) {
    EXPECT_EQ(error.kind(), ErrorKind::cancelled);
    EXPECT_EQ(error.exit_code(), 4);
    EXPECT_NE(std::string(error.what()).find("job/encoding"), std::string::npos);
  }
}

TEST(Progress, PlainLinesGoToStderrWhenNotATerminal) {
  Progress root("demo", /*draw=*/true);
  ::testing::internal::CaptureStderr();
  root.update(0.0, "starting");
  root.update(0.5, "halfway");  // within the line interval: not printed
  root.update(1.0, "done");
  const auto printed = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(printed.find("demo: 0.0% starting"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("halfway"), std::string::npos) << printed;
  EXPECT_NE(printed.find("demo: 100.0% done"), std::string::npos) << printed;
}

TEST(Error, DetailBodyListsEveryProblemAndMapsKindsToStatusAndExitCodes) {
  const InvalidInput invalid({{{"body", "rank"}, "rank=7 is not one of 8, 16, 32, 64, 128", "literal_error"},
                              {{"body", "frame_rate"}, "frame_rate=70 is above 60", "less_than_equal"}});
  EXPECT_EQ(invalid.http_status(), 422);
  EXPECT_EQ(invalid.exit_code(), 2);
  EXPECT_EQ(invalid.detail_json(),
            R"({"detail":[{"loc":["body","rank"],"msg":"rank=7 is not one of 8, 16, 32, 64, 128","type":"literal_error"},)"
            R"({"loc":["body","frame_rate"],"msg":"frame_rate=70 is above 60","type":"less_than_equal"}]})");
  EXPECT_NE(std::string(invalid.what()).find("frame_rate=70"), std::string::npos);
  EXPECT_EQ(DownloadFailed("x").exit_code(), 3);
  EXPECT_EQ(DownloadFailed("x").http_status(), 502);
  EXPECT_EQ(DatasetRejected("x").http_status(), 422);
  EXPECT_EQ(InternalError("x").exit_code(), 1);
  const InvalidInput indexed({{{"body", "validation", "1", "reference_video_url"}, "missing", "missing"}});
  EXPECT_EQ(indexed.detail_json(),
            R"({"detail":[{"loc":["body","validation",1,"reference_video_url"],"msg":"missing","type":"missing"}]})");
  EXPECT_EQ(InternalError("boom").detail_json(), R"({"detail":[{"loc":["body"],"msg":"boom","type":"internal_error"}]})");
}

}  // namespace
}  // namespace avtrain::core
