#include "service/metrics_series.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

using testing::TempDir;

void write_steps(const std::filesystem::path& file, int count, int total) {
  std::ofstream out(file);
  for (int step = 1; step <= count; ++step) {
    out << nlohmann::json{{"step", step},
                          {"total_steps", total},
                          {"loss", 1.0 / step},
                          {"video_loss", 2.0 / step},
                          {"audio_loss", 3.0 / step},
                          {"learning_rate", 1e-4},
                          {"grad_norm", 0.5},
                          {"step_seconds", 0.25},
                          {"tokens_per_second", 10.0}}
               .dump()
        << "\n";
  }
}

TEST(MetricsSeries, EveryLoggedStepWhenFewerThanTheLimit) {
  const TempDir dir;
  write_steps(dir / "metrics.jsonl", 5, 100);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"step\": 6, \"loss\": 0.1";  // being written
  const auto metrics = metrics_series(dir / "metrics.jsonl");
  EXPECT_EQ(metrics["total_steps"], 100);
  EXPECT_EQ(metrics["logged_steps"], 5);
  EXPECT_EQ(metrics["step"], nlohmann::json::array({1, 2, 3, 4, 5}));
  for (const char* name : {"loss", "video_loss", "audio_loss", "video_loss_smoothed", "audio_loss_smoothed",
                           "learning_rate", "grad_norm", "step_seconds"}) {
    ASSERT_TRUE(metrics["series"].contains(name)) << name;
    EXPECT_EQ(metrics["series"][name].size(), 5u) << name;
  }
  EXPECT_DOUBLE_EQ(metrics["series"]["video_loss"][1].get<double>(), 1.0);
  // Debiased: the first smoothed point is the first value; later ones lie between old and new values.
  EXPECT_DOUBLE_EQ(metrics["series"]["audio_loss_smoothed"][0].get<double>(), 3.0);
  const double second = metrics["series"]["audio_loss_smoothed"][1].get<double>();
  EXPECT_LT(second, 3.0);
  EXPECT_GT(second, 1.5);
}

TEST(MetricsSeries, DecimatedToTheLimitKeepingTheFirstAndLastStep) {
  const TempDir dir;
  write_steps(dir / "metrics.jsonl", 5000, 5000);
  const auto metrics = metrics_series(dir / "metrics.jsonl", 2000);
  EXPECT_EQ(metrics["logged_steps"], 5000);
  ASSERT_EQ(metrics["step"].size(), 2000u);
  EXPECT_EQ(metrics["step"].front(), 1);
  EXPECT_EQ(metrics["step"].back(), 5000);
  for (size_t index = 1; index < metrics["step"].size(); ++index)
    ASSERT_GT(metrics["step"][index].get<int>(), metrics["step"][index - 1].get<int>()) << index;
  EXPECT_EQ(metrics["series"]["grad_norm"].size(), 2000u);
  // Each point is the value at its step.
  EXPECT_DOUBLE_EQ(metrics["series"]["loss"].back().get<double>(), 1.0 / 5000);
}

TEST(MetricsSeries, NoFileIsNoSteps) {
  const TempDir dir;
  const auto metrics = metrics_series(dir / "missing.jsonl");
  EXPECT_EQ(metrics["logged_steps"], 0);
  EXPECT_TRUE(metrics["step"].empty());
  EXPECT_TRUE(metrics["series"]["loss"].empty());
}

}  // namespace
}  // namespace avtrain::service
