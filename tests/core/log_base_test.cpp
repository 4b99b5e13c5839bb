// Job-scoped logging, torch-free: a job's log file and log capture take only the lines of the thread
// that runs the job, so concurrent jobs in the server keep separate logs.
#include "core/log.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "testing/temp_dir.h"

namespace avtrain::core {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Log, FileSinkTakesOnlyItsOwnThreadsLines) {
  testing::TempDir dir;
  const auto first = dir.path() / "first.log";
  const auto second = dir.path() / "second.log";
  const auto run_job = [](const std::filesystem::path& path, const std::string& name) {
    LogFileSink sink(path.string());
    for (int i = 0; i < 20; ++i) logger("service").info("{} line {}", name, i);
  };
  std::thread a(run_job, first, "job-a");
  std::thread b(run_job, second, "job-b");
  a.join();
  b.join();
  logger("service").info("after both jobs");

  const auto text_a = read_all(first), text_b = read_all(second);
  EXPECT_NE(text_a.find("job-a line 19"), std::string::npos);
  EXPECT_EQ(text_a.find("job-b"), std::string::npos);
  EXPECT_NE(text_b.find("job-b line 0"), std::string::npos);
  EXPECT_EQ(text_b.find("job-a"), std::string::npos);
  EXPECT_EQ(text_a.find("after both jobs"), std::string::npos);
}

TEST(Log, CaptureHandsOverLevelLoggerAndMessage) {
  std::vector<LogLine> lines;
  {
    LogCapture capture([&](const LogLine& line) { lines.push_back(line); });
    logger("dataset").warn("pair {} skipped", "clip7");
    std::thread([] { logger("dataset").error("another thread"); }).join();
  }
  logger("dataset").info("after the capture");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].level, "warning");
  EXPECT_EQ(lines[0].logger, "dataset");
  EXPECT_EQ(lines[0].message, "pair clip7 skipped");
}

}  // namespace
}  // namespace avtrain::core
