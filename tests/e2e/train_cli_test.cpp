// `avtrain demo-dataset` and `avtrain train` through the real binary (issue 12): the demo's dataset
// (its targets visibly and audibly transformed) trains at 32x32 and 9 frames and the printed result's
// files exist; a job killed with SIGKILL mid-training resumes at its checkpoint step when the same
// command runs again; a bad archive exits 2 with the 422 body and billing 0. Each process runs with
// AVTRAIN_CACHE_DIR in the test's temporary folder, where `--model tiny` generates the tiny model.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dataset/zip_builder.h"
#include "media/audio_fit.h"
#include "media/test_media.h"
#include "media/video_fit.h"
#include "testing/child_process.h"
#include "testing/golden_dir.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

fs::path path_of_url(const json& entry) {
  const std::string url = entry.at("url").get<std::string>();
  EXPECT_EQ(url.rfind("file:///", 0), 0u) << url;
  return url.substr(std::string("file://").size());
}

void expect_file(const json& entry) {
  ASSERT_TRUE(entry.is_object()) << entry.dump();
  const fs::path path = path_of_url(entry);
  ASSERT_TRUE(fs::is_regular_file(path)) << path;
  EXPECT_EQ(entry.at("file_name").get<std::string>(), path.filename().string());
  EXPECT_EQ(entry.at("file_size").get<uint64_t>(), fs::file_size(path));
  EXPECT_GT(fs::file_size(path), 0u);
}

// Zero crossings per second / 2 of the middle half of channel 0: the frequency of a pure tone.
double tone_frequency(const media::AudioBuffer& audio) {
  const int64_t begin = audio.frames() / 4, end = 3 * audio.frames() / 4;
  const float* samples = audio.channel(0);
  int crossings = 0;
  for (int64_t n = begin + 1; n < end; ++n) crossings += (samples[n - 1] < 0) != (samples[n] < 0);
  return crossings / 2.0 / (static_cast<double>(end - begin) / audio.sample_rate);
}

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::avtrain_binary()))
      GTEST_SKIP() << testing::avtrain_binary() << " was not built (AVTRAIN_WITH_SERVICE off)";
  }

  // Starts `avtrain ARGS...`; its stdout and stderr go to <name>.stdout and <name>.stderr. The tiny
  // model is cached in the test's folder. One LibTorch thread: on a shared CI machine whose cores are
  // busy, two OpenMP threads spinning at their barriers made a 3 s job take 30 s; one takes 4 s there.
  testing::ChildProcess start(const std::string& name, const std::vector<std::string>& arguments,
                              std::map<std::string, std::string> environment = {}) {
    std::vector<std::string> argv{testing::avtrain_binary().string()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    environment.emplace("AVTRAIN_CACHE_DIR", (dir_ / "cache").string());
    environment.emplace("AVTRAIN_THREADS", "1");
    return testing::ChildProcess(argv, environment, dir_ / (name + ".stdout"), dir_ / (name + ".stderr"));
  }

  // Two 32x32 pairs of 0.5 s (12 frames at 24 fps, more than the 9 the job trains on).
  void make_demo_dataset() {
    auto demo = start("demo-dataset", {"demo-dataset", "--out", (dir_ / "demo").string(), "--pairs", "2",
                                       "--size", "32", "--seconds", "0.5"});
    ASSERT_EQ(demo.exit_code(), 0) << demo.err();
  }

  std::vector<std::string> train_arguments(const fs::path& request, const std::string& steps) const {
    return {"train",          request.string(),
            "--out",          (dir_ / "job").string(),
            "--model",        "tiny",
            "--text-encoder", "tiny",
            "--device",       "cpu",
            "--demo-size",    "32x32",
            "--demo-frames",  "9",
            "--demo-steps",   steps};
  }

  testing::TempDir dir_{"avtrain-train-cli"};
};

TEST_F(TrainCli, DemoDatasetTargetsInvertTheColoursAndRaiseTheToneAnOctave) {
  make_demo_dataset();
  const fs::path demo = dir_ / "demo";
  for (const char* file :
       {"pair0_start.mp4", "pair0_end.mp4", "pair0.txt", "pair1_start.mp4", "pair1_end.mp4", "pair1.txt"}) {
    EXPECT_TRUE(fs::is_regular_file(demo / "pairs" / file)) << file;
  }
  EXPECT_FALSE(fs::exists(demo / "pairs" / "pair2_start.mp4"));
  ASSERT_TRUE(fs::is_regular_file(demo / "pairs.zip"));

  const auto request = json::parse(read_text(demo / "request.json"));
  EXPECT_EQ(request.at("training_data_url"), "file://" + (demo / "pairs.zip").string());
  EXPECT_EQ(request.at("validation").at(0).at("reference_video_url"),
            "file://" + (demo / "pairs" / "pair1_start.mp4").string());
  EXPECT_EQ(request.at("trigger_phrase"), "inverted");

  const media::VideoFitOptions fit{32, 32, 12, 24};
  for (const char* pair : {"pair0", "pair1"}) {
    SCOPED_TRACE(pair);
    const auto reference = media::fit_video(demo / "pairs" / (std::string(pair) + "_start.mp4"), fit);
    const auto target = media::fit_video(demo / "pairs" / (std::string(pair) + "_end.mp4"), fit);
    ASSERT_EQ(reference.rgb.size(), target.rgb.size());
    double inversion_error = 0, difference = 0;  // mean |reference + target - 255|, mean |reference - target|
    for (size_t i = 0; i < reference.rgb.size(); ++i) {
      inversion_error += std::abs(reference.rgb[i] + target.rgb[i] - 255.0);
      difference += std::abs(reference.rgb[i] - target.rgb[i] + 0.0);
    }
    EXPECT_LT(inversion_error / reference.rgb.size(), 12.0);  // lossy H.264 at 32x32, 4:2:0
    EXPECT_GT(difference / reference.rgb.size(), 40.0);
    // The scene moves: the first and the middle frame differ.
    double motion = 0;
    for (size_t i = 0; i < reference.frame_bytes(); ++i)
      motion += std::abs(reference.frame(0)[i] - reference.frame(6)[i] + 0.0);
    EXPECT_GT(motion / reference.frame_bytes(), 5.0);

    const double reference_hz =
        tone_frequency(media::decode_audio(demo / "pairs" / (std::string(pair) + "_start.mp4")));
    const double target_hz =
        tone_frequency(media::decode_audio(demo / "pairs" / (std::string(pair) + "_end.mp4")));
    EXPECT_NEAR(reference_hz, std::string(pair) == "pair0" ? 220 : 330, 10);
    EXPECT_NEAR(target_hz / reference_hz, 2.0, 0.05);
  }
}

TEST_F(TrainCli, TheDemoDatasetTrainsAtATinySizeAndTheResultFilesExist) {
  make_demo_dataset();
  auto train = start("train", train_arguments(dir_ / "demo" / "request.json", "2"));
  ASSERT_EQ(train.exit_code(), 0) << train.err();
  const auto result = json::parse(train.out());  // stdout holds the result JSON alone
  expect_file(result.at("lora_file"));
  expect_file(result.at("config_file"));
  expect_file(result.at("video"));  // the request has a validation sample
  expect_file(result.at("debug_dataset"));
  EXPECT_EQ(result.at("billing").at("units").get<int64_t>(),
            200);  // the request's 200 steps (DECISIONS.md §32)
  EXPECT_EQ(json::parse(read_text(dir_ / "job" / "result.json")), result);
  EXPECT_FALSE(fs::exists(dir_ / "job" / "error.json"));
  EXPECT_NE(read_text(dir_ / "job" / "job.log").find("preprocessed 2 pairs"), std::string::npos);
}

TEST_F(TrainCli, AJobKilledMidTrainingResumesFromItsCheckpointWhenRunAgain) {
  make_demo_dataset();
  // validation_interval 50: checkpoints (and previews) at steps 50 and 100 (job_pipeline.cpp: the
  // checkpoint interval is gcd(250, validation_interval)).
  auto request = json::parse(read_text(dir_ / "demo" / "request.json"));
  request["validation_interval"] = 50;
  const fs::path request_file = dir_ / "request.json";
  std::ofstream(request_file) << request.dump(2);
  const fs::path job = dir_ / "job";
  const fs::path checkpoint = job / "training" / "checkpoints" / "step_000050";

  {
    auto first = start("train-killed", train_arguments(request_file, "100"));
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!fs::exists(checkpoint)) {  // renamed into place once complete (training_state.h)
      ASSERT_FALSE(first.poll().has_value()) << "the job ended before its step-50 checkpoint:\n"
                                             << first.err();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no step-50 checkpoint after 60 s:\n"
                                                            << first.err();
      std::this_thread::sleep_for(10ms);
    }
    first.send(SIGKILL);
    const int status = first.wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the job finished before it could be killed:\n"
        << first.err();
  }
  EXPECT_FALSE(fs::exists(job / "result.json"));
  EXPECT_FALSE(fs::exists(job / "error.json"));  // SIGKILL: no chance to write one
  // The kill lands within 10 ms of the checkpoint, before step 50's preview (rendered after it) is done:
  // the rerun must render it.
  EXPECT_FALSE(fs::exists(job / "previews" / "step_50.mp4"));
  const auto killed_metrics = read_lines(job / "training" / "metrics.jsonl");
  ASSERT_GE(killed_metrics.size(), 50u);

  auto second = start("train-resumed", train_arguments(request_file, "100"));
  ASSERT_EQ(second.exit_code(), 0) << second.err();
  const std::string log = second.err();
  EXPECT_NE(log.find("stage encoding: finished before, skipped"), std::string::npos) << log;
  EXPECT_NE(log.find("resuming from the checkpoint of step 50"), std::string::npos) << log;
  EXPECT_NE(log.find("trained steps 51..100"), std::string::npos) << log;
  EXPECT_NE(read_text(job / "job.log").find("resuming from the checkpoint of step 50"), std::string::npos);

  const auto result = json::parse(second.out());
  expect_file(result.at("lora_file"));
  expect_file(result.at("video"));
  EXPECT_TRUE(fs::exists(job / "result.json"));
  EXPECT_TRUE(fs::exists(job / "previews" / "step_50.mp4")) << "the resumed run did not render the preview due";
  EXPECT_TRUE(fs::exists(job / "previews" / "step_100.mp4"));

  // metrics.jsonl: the killed run's steps 1..50 kept as they were, then 51..100 from the rerun.
  const auto metrics = read_lines(job / "training" / "metrics.jsonl");
  ASSERT_EQ(metrics.size(), 100u);
  for (size_t line = 0; line < metrics.size(); ++line) {
    EXPECT_EQ(json::parse(metrics[line]).at("step").get<int64_t>(), static_cast<int64_t>(line) + 1)
        << metrics[line];
    if (line < 50) {
      EXPECT_EQ(metrics[line], killed_metrics[line]);
    }
  }
}

TEST_F(TrainCli, AnUnknownAttentionKernelInTheEnvironmentExitsTwoNamingTheVariable) {
  auto train = start("attention", train_arguments(dir_ / "request.json", "2"), {{"AVTRAIN_ATTENTION", "fastest"}});
  EXPECT_EQ(train.exit_code(), 2) << train.err();
  EXPECT_NE(train.err().find("AVTRAIN_ATTENTION: attention backend 'fastest' is unknown"), std::string::npos)
      << train.err();
  EXPECT_FALSE(fs::exists(dir_ / "job")) << "nothing starts before the environment is understood";
}

TEST_F(TrainCli, ABadArchiveExitsTwoWithThe422BodyNamingThePairAndBillingZero) {
  media::TestClipOptions clip;
  clip.width = clip.height = 32;
  clip.frames = 12;
  media::write_test_clip(dir_ / "clip.mp4", clip);
  const std::string bytes = read_text(dir_ / "clip.mp4");
  dataset::testing::ZipBuilder()
      .file("a_start.mp4", bytes)
      .file("a_end.mp4", bytes)
      .file("a.txt", "a grey square")
      .file("lonely_start.mp4", bytes)  // its _end is missing
      .write(dir_ / "clips.zip");
  const json request{{"training_data_url", "file://" + (dir_ / "clips.zip").string()},
                     {"trigger_phrase", "ZQX"}};
  std::ofstream(dir_ / "request.json") << request.dump();

  auto train = start("train", train_arguments(dir_ / "request.json", "2"));
  EXPECT_EQ(train.exit_code(), 2) << train.err();  // DECISIONS.md §31
  const auto body = json::parse(train.out());
  EXPECT_EQ(body.at("status").get<int>(), 422);
  ASSERT_EQ(body.at("detail").size(), 1u) << body.dump(2);
  const auto& problem = body.at("detail").at(0);
  EXPECT_EQ(problem.at("loc"), json({"body", "training_data_url", "lonely_start.mp4"})) << body.dump(2);
  EXPECT_NE(problem.at("msg").get<std::string>().find("lonely_end.mp4"), std::string::npos) << body.dump(2);
  EXPECT_EQ(body.at("billing").at("units").get<int64_t>(), 0);  // DECISIONS.md §32
  EXPECT_EQ(body.at("billing").at("cost_usd").get<std::string>(), "0.00");
  EXPECT_EQ(json::parse(read_text(dir_ / "job" / "error.json")), body);
  EXPECT_FALSE(fs::exists(dir_ / "job" / "result.json"));
}

}  // namespace
}  // namespace avtrain::service
