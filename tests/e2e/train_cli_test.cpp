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
#include <functional>
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
#include "testing/capped_folder.h"
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

  // The bytes of a 32x32 test clip of 12 frames (with audio), for archives a test builds itself.
  std::string small_clip_bytes() const {
    media::TestClipOptions clip;
    clip.width = clip.height = 32;
    clip.frames = 12;
    media::write_test_clip(dir_ / "clip.mp4", clip);
    return read_text(dir_ / "clip.mp4");
  }

  std::vector<std::string> train_arguments(const fs::path& request, const std::string& steps,
                                           const fs::path& out = {}) const {
    return {"train",          request.string(),
            "--out",          (out.empty() ? dir_ / "job" : out).string(),
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
  // validation_interval 50: checkpoints (and previews) at steps 50 and 100 (DECISIONS.md §34: every 250
  // steps and at every validation step).
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
  EXPECT_TRUE(fs::exists(job / "previews" / "step_50.mp4"))
      << "the resumed run did not render the preview due";
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
  auto train =
      start("attention", train_arguments(dir_ / "request.json", "2"), {{"AVTRAIN_ATTENTION", "fastest"}});
  EXPECT_EQ(train.exit_code(), 2) << train.err();
  EXPECT_NE(train.err().find("AVTRAIN_ATTENTION: attention backend 'fastest' is unknown"), std::string::npos)
      << train.err();
  EXPECT_FALSE(fs::exists(dir_ / "job")) << "nothing starts before the environment is understood";
}

// Command-line input that cannot work exits 2 with a message naming the option or file and what to
// give instead, before any job runs (or, for the demo overrides, as the job's recorded failure).
TEST_F(TrainCli, CommandLineInputThatCannotWorkExitsTwoNamingWhatToChange) {
  const fs::path request = dir_ / "request.json";
  std::ofstream(request) << json{{"training_data_url", (dir_ / "absent.zip").string()}}.dump();
  std::ofstream(dir_ / "a-file") << "x";
  const std::string missing = (dir_ / "missing.json").string();
  const auto train_with = [&](std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> arguments = {
        "train", request.string(), "--out", (dir_ / out).string(), "--model", "tiny", "--text-encoder",
        "tiny",  "--device",       "cpu"};
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    return arguments;
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"train", missing, "--out", (dir_ / "job").string(), "--model", "tiny", "--text-encoder", "tiny"},
       "missing.json cannot be read: give the path of a request JSON file"},
      {{"validate", missing}, "File does not exist"},
      {{"dataset", "check", (dir_ / "absent.zip").string(), "--request", missing},
       "missing.json cannot be read: give the path of a request JSON file"},
      {{"dataset", "check", (dir_ / "absent.zip").string(), "--debug-zip", (dir_ / "debug.zip").string()},
       "--debug-zip needs --prepare DIR"},
      {{"serve", "--listen", "nonsense", "--data", (dir_ / "data").string(), "--model", "tiny",
        "--text-encoder", "tiny"},
       "--listen nonsense: expected HOST:PORT, e.g. 127.0.0.1:8080"},
      {train_with({"--demo-size", "32by32"}, "job-size"),
       "--demo-size 32by32: expected WIDTHxHEIGHT, e.g. 64x64"},
      {train_with({"--demo-size", "33x32"}, "job-grid"),
       "training size override 33x32: use positive multiples of 32"},
      {train_with({"--demo-frames", "10"}, "job-frames"),
       "frame count override 10: use 8k+1 (9, 17, 25, ...)"},
      {{"webhook-keys", "list", "--data", (dir_ / "a-file").string()},
       "is not a folder: give the data folder"},
      {{"demo-dataset", "--out", (dir_ / "demo").string(), "--size", "33"},
       "--size 33: H.264 needs an even size; use 32 or 34"},
      {{"demo-dataset", "--out", (dir_ / "a-file" / "sub").string()},
       "choose an --out folder you can write to"},
      {{"media", "fit", (dir_ / "absent.mp4").string(), "--resolution", "huge", "--out",
        (dir_ / "f.mp4").string()},
       "--resolution huge --aspect-ratio 1:1 is not a bucket: use low, medium or high with 16:9, 1:1 or "
       "9:16"},
      {{"media", "fit", (dir_ / "absent.mp4").string(), "--fps", "0", "--out", (dir_ / "f.mp4").string()},
       "--frames and --fps must be positive"},
  };
  int index = 0;
  for (const auto& [arguments, expected] : cases) {
    auto run = start("refused-" + std::to_string(index++), arguments);
    EXPECT_EQ(run.exit_code(), 2) << expected << "\n" << run.err();
    EXPECT_NE(run.err().find(expected), std::string::npos) << expected << "\n" << run.err();
  }
  EXPECT_FALSE(fs::exists(dir_ / "demo" / "pairs.zip"));
  EXPECT_FALSE(fs::exists(dir_ / "f.mp4"));
}

TEST_F(TrainCli, ABadArchiveExitsTwoWithThe422BodyNamingThePairAndBillingZero) {
  const std::string bytes = small_clip_bytes();
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

// Files a finished job must not keep: the temporary forms of atomic writes.
std::vector<std::string> stray_temporary_files(const fs::path& job) {
  std::vector<std::string> stray;
  for (const auto& entry : fs::recursive_directory_iterator(job)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp") || name.ends_with(".part") || name.ends_with(".writing.mp4") ||
        name.find(".part-") != std::string::npos || name.ends_with(".joining")) {
      stray.push_back(entry.path().lexically_relative(job).string());
    }
  }
  return stray;
}

// Waits until `ready` holds, `process` still running; false (with the reason in *why) otherwise.
template <typename Ready>
bool wait_for(testing::ChildProcess& process, Ready ready, std::string* why) {
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (!ready()) {
    if (process.poll()) {
      *why = "the job ended first:\n" + process.err();
      return false;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      *why = "not reached in 120 s:\n" + process.err();
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Issue 29 crash trials at three fixed moments (scripts/crash-trials.sh runs 20 at random ones): a job
// killed with SIGKILL during preprocessing, text encoding and training, then run again, delivers a LoRA
// byte-identical to a run never interrupted, with each step once in its metrics and no temporary file
// left. The third trial also damages a cached latent file before the rerun: it is encoded again, not
// trusted, and the LoRA is still the same.
TEST_F(TrainCli, KilledAtAnyStageTheRerunDeliversTheSameLoraBytes) {
  make_demo_dataset();
  auto request = json::parse(read_text(dir_ / "demo" / "request.json"));
  request["validation_interval"] = 10;
  const fs::path request_file = dir_ / "request.json";
  std::ofstream(request_file) << request.dump(2);
  constexpr int kSteps = 30;
  auto reference =
      start("reference", train_arguments(request_file, std::to_string(kSteps), dir_ / "reference"));
  ASSERT_EQ(reference.exit_code(), 0) << reference.err();
  const std::string reference_lora = read_text(dir_ / "reference" / "outputs" / "lora.safetensors");
  ASSERT_FALSE(reference_lora.empty());

  struct Moment {
    std::string name;
    std::function<bool(const fs::path& job)> reached;
  };
  const std::vector<Moment> moments = {
      {"preprocessing", [](const fs::path& job) { return fs::exists(job / "dataset"); }},
      {"text encoding", [](const fs::path& job) { return fs::exists(job / "prompts"); }},
      {"training",
       [](const fs::path& job) { return read_lines(job / "training" / "metrics.jsonl").size() >= 15; }},
  };
  for (size_t trial = 0; trial < moments.size(); ++trial) {
    const auto& moment = moments[trial];
    const fs::path job = dir_ / ("trial-" + std::to_string(trial));
    {
      auto killed = start("killed-" + std::to_string(trial),
                          train_arguments(request_file, std::to_string(kSteps), job));
      std::string why;
      ASSERT_TRUE(wait_for(
          killed, [&] { return moment.reached(job); }, &why))
          << moment.name << ": " << why;
      killed.send(SIGKILL);
      killed.wait();
    }
    if (moment.name == "training") {
      std::vector<fs::path> latents;
      for (const auto& entry : fs::directory_iterator(job / "latents")) {
        if (entry.path().filename().string().starts_with("pair")) latents.push_back(entry.path());
      }
      ASSERT_FALSE(latents.empty());
      std::fstream file(latents.front(), std::ios::binary | std::ios::in | std::ios::out);
      file.seekp(static_cast<std::streamoff>(fs::file_size(latents.front()) - 8));
      file.write("\x55", 1);
    }
    auto rerun =
        start("rerun-" + std::to_string(trial), train_arguments(request_file, std::to_string(kSteps), job));
    ASSERT_EQ(rerun.exit_code(), 0) << moment.name << ": " << rerun.err();
    if (moment.name == "training") {
      EXPECT_NE(rerun.err().find("encoding the pair again"), std::string::npos) << rerun.err();
    }
    EXPECT_EQ(read_text(job / "outputs" / "lora.safetensors"), reference_lora)
        << "killed during " << moment.name << ": the LoRA differs from the uninterrupted run's";
    const auto metrics = read_lines(job / "training" / "metrics.jsonl");
    ASSERT_EQ(metrics.size(), static_cast<size_t>(kSteps)) << moment.name;
    for (size_t line = 0; line < metrics.size(); ++line) {
      EXPECT_EQ(json::parse(metrics[line]).at("step").get<int64_t>(), static_cast<int64_t>(line) + 1)
          << moment.name;
    }
    EXPECT_EQ(stray_temporary_files(job), std::vector<std::string>{}) << moment.name;
  }
}

// One job folder, one owner: a second `avtrain train` on a folder in use is refused at once, naming
// the first one's pid; a folder that is not a job folder, and a damaged job state, are refused naming
// the file.
TEST_F(TrainCli, AJobFolderHasOneOwnerAndForeignOrDamagedFoldersAreRefused) {
  make_demo_dataset();
  const fs::path request_file = dir_ / "demo" / "request.json";
  auto first = start("first", train_arguments(request_file, "5000"));
  std::string why;
  ASSERT_TRUE(wait_for(
      first, [&] { return fs::exists(dir_ / "job" / "dataset"); }, &why))
      << why;
  const auto started = std::chrono::steady_clock::now();
  auto second = start("second", train_arguments(request_file, "5000"));
  EXPECT_EQ(second.exit_code(), 2) << second.err();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  EXPECT_NE(second.err().find("in use by another avtrain process (pid " + std::to_string(first.pid()) + ")"),
            std::string::npos)
      << second.err();
  first.send(SIGKILL);
  first.wait();

  fs::create_directories(dir_ / "home");
  std::ofstream(dir_ / "home" / "thesis.tex") << "not a job";
  auto foreign = start("foreign", train_arguments(request_file, "2", dir_ / "home"));
  EXPECT_EQ(foreign.exit_code(), 2) << foreign.err();
  EXPECT_NE(foreign.out().find("thesis.tex"), std::string::npos) << foreign.out();
  EXPECT_TRUE(fs::exists(dir_ / "home" / "thesis.tex"));

  std::ofstream(dir_ / "job" / "job.json") << "[1, 2";
  auto damaged = start("damaged", train_arguments(request_file, "2"));
  EXPECT_NE(damaged.exit_code(), 0) << damaged.err();
  EXPECT_NE((damaged.out() + damaged.err()).find((dir_ / "job" / "job.json").string()), std::string::npos)
      << damaged.out() << damaged.err();

  // JSON, but not a job's state.
  std::ofstream(dir_ / "job" / "job.json") << R"({"finished": "all of it"})";
  auto foreign_state = start("foreign-state", train_arguments(request_file, "2"));
  EXPECT_EQ(foreign_state.exit_code(), 2) << foreign_state.err();
  EXPECT_NE((foreign_state.out() + foreign_state.err()).find("is not the state of an avtrain job"),
            std::string::npos)
      << foreign_state.out() << foreign_state.err();
}

// Issue 25: a job whose archive, pair tensors and checkpoints cannot fit fails at once, billed 0, naming
// what it needs and what is free; a job that runs out of space mid-training fails naming the stage, keeps
// its last checkpoint, and resumes from it when run again after space is freed.
TEST_F(TrainCli, AJobThatCannotFitFailsAtOnceAndOneThatRanOutOfSpaceResumesOnceFreed) {
  make_demo_dataset();
  {
    testing::CappedFolder small(dir_ / "small", 4);
    if (!small.mounted())
      GTEST_SKIP() << "cannot mount a tmpfs here (not root): no size-capped folder to test with";
    std::string padding(8u << 20, '\0');
    for (size_t at = 0; at < padding.size(); ++at) padding[at] = static_cast<char>((at * 2654435761u) >> 13);
    dataset::testing::ZipBuilder()
        .file("a_start.mp4", read_text(dir_ / "demo" / "pairs" / "pair0_start.mp4"))
        .file("a_end.mp4", read_text(dir_ / "demo" / "pairs" / "pair0_end.mp4"))
        .file("padding.bin", padding)
        .write(dir_ / "big.zip");
    std::ofstream(dir_ / "big.json") << json{{"training_data_url", (dir_ / "big.zip").string()}}.dump();
    auto train = start("too-big", train_arguments(dir_ / "big.json", "5", small.path() / "job"));
    ASSERT_EQ(train.exit_code(), 1) << train.err();

    const auto body = json::parse(train.out());
    const std::string message = body.at("detail").at(0).at("msg").get<std::string>();
    EXPECT_NE(message.find("not enough disk space for extracting the archive"), std::string::npos) << message;
    EXPECT_NE(message.find("it needs"), std::string::npos) << message;
    EXPECT_NE(message.find("are free"), std::string::npos) << message;
    EXPECT_EQ(body.at("billing").at("units"), 0);
    EXPECT_FALSE(fs::exists(small.path() / "job" / "dataset")) << "extraction started anyway";
  }

  testing::CappedFolder folder(dir_ / "capped", 96);
  ASSERT_TRUE(folder.mounted());
  auto request = json::parse(read_text(dir_ / "demo" / "request.json"));
  request["validation_interval"] = 10;
  std::ofstream(dir_ / "request.json") << request.dump();
  const fs::path job = folder.path() / "job";
  {
    auto first = start("filled", train_arguments(dir_ / "request.json", "40", job));
    std::string why;
    ASSERT_TRUE(wait_for(
        first, [&] { return fs::exists(job / "training" / "checkpoints" / "step_000010"); }, &why))
        << why;
    // Everything left is taken: the job's next write fails.
    std::ofstream filler(folder.path() / "filler", std::ios::binary);
    const std::string block(1 << 20, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
    ASSERT_EQ(first.exit_code(), 1) << first.err();
    const auto body = json::parse(first.out());
    const std::string message = body.at("detail").at(0).at("msg").get<std::string>();
    EXPECT_NE(message.find("the disk ran out of space during the training stage"), std::string::npos)
        << message;
    EXPECT_EQ(message.find(job.string()), std::string::npos) << "a server path in the message: " << message;
    EXPECT_EQ(body.at("billing").at("units"), 0);
  }
  fs::remove(folder.path() / "filler");
  auto rerun = start("freed", train_arguments(dir_ / "request.json", "40", job));
  ASSERT_EQ(rerun.exit_code(), 0) << rerun.err();
  EXPECT_NE(rerun.err().find("resuming from the checkpoint of step"), std::string::npos) << rerun.err();
  const auto metrics = read_lines(job / "training" / "metrics.jsonl");
  ASSERT_EQ(metrics.size(), 40u);
  for (size_t line = 0; line < metrics.size(); ++line) {
    EXPECT_EQ(json::parse(metrics[line]).at("step").get<int64_t>(), static_cast<int64_t>(line) + 1);
  }
}

// Text that is not UTF-8, and control characters, in what users send: refused with a clear error, and
// every output stays printable JSON (the first wave aborted on an uncaught serialization exception).
TEST_F(TrainCli, TextThatIsNotUtf8OrHoldsControlCharactersIsRefusedClearly) {
  std::ofstream(dir_ / "nul.json") << R"({"training_data_url": "https://example.com/a\u0000.zip"})";
  auto nul = start("validate-nul", {"validate", (dir_ / "nul.json").string()});
  EXPECT_EQ(nul.exit_code(), 2) << nul.err();
  const auto refused = json::parse(nul.out());
  EXPECT_EQ(refused.at("detail").at(0).at("loc"), json({"body", "training_data_url"})) << refused.dump();
  EXPECT_NE(refused.at("detail").at(0).at("msg").get<std::string>().find("control character"),
            std::string::npos);

  std::ofstream(dir_ / "escape.json") << R"({"training_data_url": "file:///tmp/%ff%fe.zip"})";
  auto escape = start("validate-escape", {"validate", (dir_ / "escape.json").string()});
  EXPECT_EQ(escape.exit_code(), 2) << escape.err();
  EXPECT_NE(json::parse(escape.out()).at("detail").at(0).at("msg").get<std::string>().find("not UTF-8"),
            std::string::npos)
      << escape.out();

  const fs::path odd = dir_ / std::string("caf\xe9.safetensors");  // a Latin-1 file name
  std::ofstream(odd) << "not a safetensors file";
  auto inspect = start("inspect", {"inspect", odd.string(), "--json"});
  const int code = inspect.exit_code();
  EXPECT_TRUE(code == 1 || code == 2) << "exit " << code << ": " << inspect.err();
  EXPECT_EQ(inspect.err().find("terminate called"), std::string::npos) << inspect.err();

  // An archive entry whose name is not UTF-8, and a caption that is not: 422 naming them.
  const std::string bytes = small_clip_bytes();
  dataset::testing::ZipBuilder()
      .file("a_start.mp4", bytes)
      .file("a_end.mp4", bytes)
      .file("a.txt", "caf\xe9 au lait")
      .write(dir_ / "latin1_caption.zip");
  std::ofstream(dir_ / "caption.json")
      << json{{"training_data_url", (dir_ / "latin1_caption.zip").string()}}.dump();
  auto caption = start("caption", train_arguments(dir_ / "caption.json", "2", dir_ / "caption-job"));
  EXPECT_EQ(caption.exit_code(), 2) << caption.err();
  const auto caption_body = json::parse(caption.out());
  EXPECT_NE(caption_body.dump().find("the caption a.txt is not UTF-8 text"), std::string::npos)
      << caption_body.dump(2);
}

}  // namespace
}  // namespace avtrain::service
