// The whole training job (issue 12) on the tiny model: a generated two-pair dataset, 32x32 and 9
// frames through the JobOverrides (the request's smallest bucket is 512x512, too slow for CPU CI),
// two training steps, then every output, the result JSON, resuming, and a rejected dataset.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/progress.h"
#include "core/safetensors.h"
#include "dataset/zip_builder.h"
#include "media/test_media.h"
#include "models/checkpoint.h"
#include "service/job_pipeline.h"
#include "service/request/training_request.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// With `validation_reference`: one validation entry and a preview at every step.
TrainingRequest make_request(const fs::path& archive, const fs::path& validation_reference = {}) {
  json body{{"training_data_url", archive.string()},
            {"trigger_phrase", "ZQX"},
            {"rank", 32},
            {"number_of_steps", 100},
            {"debug_dataset", true}};
  if (!validation_reference.empty()) {
    body["validation"] =
        json::array({{{"prompt", "ZQX a grey square"}, {"reference_video_url", validation_reference}}});
    body["validation_interval"] = 1;
  }
  return parse_training_request(body.dump(), LocalFilePolicy::allow_any());
}

JobOptions tiny_options() {
  JobOptions options;
  options.overrides.width = 32;
  options.overrides.height = 32;
  options.overrides.frames = 9;
  options.overrides.steps = 2;
  return options;
}

void expect_file(const json& entry, const std::string& content_type) {
  ASSERT_TRUE(entry.is_object()) << entry.dump();
  const std::string url = entry.at("url").get<std::string>();
  ASSERT_EQ(url.rfind("file:///", 0), 0u) << url;
  const fs::path path = url.substr(std::string("file://").size());
  ASSERT_TRUE(fs::exists(path)) << path;
  EXPECT_EQ(entry.at("file_name").get<std::string>(), path.filename().string());
  EXPECT_EQ(entry.at("file_size").get<uint64_t>(), fs::file_size(path));
  EXPECT_GT(fs::file_size(path), 0u);
  EXPECT_EQ(entry.at("content_type").get<std::string>(), content_type);
}

fs::path path_of(const json& entry) {
  return entry.at("url").get<std::string>().substr(std::string("file://").size());
}

class TrainJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    media::TestClipOptions clip;
    clip.width = 32;
    clip.height = 32;
    clip.frames = 12;  // 0.5 s: longer than the 9-frame window at 24 fps
    media::write_test_clip(dir_ / "ref.mp4", clip);
    clip.tone_hz = 660;
    media::write_test_clip(dir_ / "tgt.mp4", clip);
    dataset::testing::ZipBuilder()
        .file("a_start.mp4", read_bytes(dir_ / "ref.mp4"))
        .file("a_end.mp4", read_bytes(dir_ / "tgt.mp4"))
        .file("a.txt", "a grey square")
        .file("b_start.mp4", read_bytes(dir_ / "tgt.mp4"))
        .file("b_end.mp4", read_bytes(dir_ / "ref.mp4"))
        .write(dir_ / "clips.zip");
  }

  testing::TempDir dir_{"avtrain-e2e"};
};

TEST_F(TrainJobTest, TinyJobDeliversEveryOutputAndAFinishedJobIsNotRedone) {
  const auto files = models::resolve_model_files("tiny", "tiny", dir_ / "model-cache");
  const JobPaths paths(dir_ / "job");
  core::Progress progress("train", /*draw=*/false);
  const auto request = make_request(dir_ / "clips.zip", dir_ / "ref.mp4");
  const auto run = run_recorded_job(request, paths, files, tiny_options(), progress);
  ASSERT_EQ(run.exit_code, 0) << run.body.dump(2);
  const json result = json::parse(run.body.dump());

  expect_file(result.at("lora_file"), "application/octet-stream");
  expect_file(result.at("config_file"), "application/json");
  expect_file(result.at("debug_dataset"), "application/zip");
  expect_file(result.at("video"), "video/mp4");                  // the last step's reel (DECISIONS.md §25)
  EXPECT_TRUE(fs::exists(paths.previews_dir() / "step_1.mp4"));  // validation_interval 1 (§23)
  EXPECT_TRUE(fs::exists(paths.previews_dir() / "step_2.mp4"));
  EXPECT_EQ(result.at("billing").at("units").get<int64_t>(), 100);  // max(100, steps) (§32)
  EXPECT_EQ(result.at("billing").at("cost_usd").get<std::string>(), "0.68");

  const auto lora = core::SafetensorsSet::open(path_of(result.at("lora_file")));
  const auto names = lora.names();
  ASSERT_FALSE(names.empty());
  for (const auto& name : names) {
    EXPECT_EQ(name.rfind("diffusion_model.", 0), 0u) << name;
    const bool a = name.size() > 14 && name.ends_with(".lora_A.weight");
    const bool b = name.size() > 14 && name.ends_with(".lora_B.weight");
    EXPECT_TRUE(a || b) << name;
  }
  EXPECT_EQ(lora.metadata().at("avtrain.trigger_phrase"), "ZQX");
  EXPECT_EQ(lora.metadata().at("avtrain.rank"), "32");
  EXPECT_EQ(lora.metadata().at("avtrain.training_type"), "av2av");

  const auto config = json::parse(read_bytes(path_of(result.at("config_file"))));
  EXPECT_EQ(config.at("trigger_phrase"), "ZQX");
  EXPECT_EQ(config.at("training_type"), "av2av");

  EXPECT_TRUE(fs::exists(paths.log_file()));
  EXPECT_TRUE(fs::exists(paths.result_file()));
  EXPECT_FALSE(fs::exists(paths.error_file()));
  const auto state = json::parse(read_bytes(paths.state_file()));
  EXPECT_EQ(state.at("finished").size(), kJobStages.size());

  // The same command again: the finished job's result, nothing redone.
  const auto lora_time = fs::last_write_time(path_of(result.at("lora_file")));
  const auto again = run_recorded_job(request, paths, files, tiny_options(), progress);
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(json::parse(again.body.dump()), result);
  EXPECT_EQ(fs::last_write_time(path_of(result.at("lora_file"))), lora_time);
}

TEST_F(TrainJobTest, WithoutValidationTheVideoIsNull) {
  const JobPaths paths(dir_ / "job");
  core::Progress progress("train", /*draw=*/false);
  const auto run = run_recorded_job(make_request(dir_ / "clips.zip"), paths,
                                    models::resolve_model_files("tiny", "tiny", dir_ / "model-cache"),
                                    tiny_options(), progress);
  ASSERT_EQ(run.exit_code, 0) << run.body.dump(2);
  EXPECT_TRUE(run.body.at("video").is_null());  // no validation samples (DECISIONS.md §25)
  EXPECT_FALSE(fs::exists(paths.previews_dir()));
}

TEST_F(TrainJobTest, ACancelledJobIsBilledZeroAndItsRerunResumesFromTheLastCheckpoint) {
  const auto files = models::resolve_model_files("tiny", "tiny", dir_ / "model-cache");
  const JobPaths paths(dir_ / "job");
  const auto request = make_request(dir_ / "clips.zip", dir_ / "ref.mp4");
  {
    core::Progress progress("train", /*draw=*/false);
    // Cancel once step 1 is checkpointed and validated: the trainer stops after that step.
    progress.add_listener([&](const core::ProgressEvent&) {
      if (fs::exists(paths.previews_dir() / "step_1.mp4")) progress.cancel();
    });
    const auto cancelled = run_recorded_job(request, paths, files, tiny_options(), progress);
    ASSERT_EQ(cancelled.exit_code, 4) << cancelled.body.dump(2);  // DECISIONS.md §31
    EXPECT_EQ(cancelled.body.at("status").get<int>(), 499);
    EXPECT_EQ(cancelled.body.at("billing").at("units").get<int64_t>(), 0);  // §32
    EXPECT_FALSE(fs::exists(paths.result_file()));
    EXPECT_TRUE(fs::exists(paths.error_file()));
  }
  core::Progress progress("train", /*draw=*/false);
  const auto resumed = run_recorded_job(request, paths, files, tiny_options(), progress);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.body.dump(2);
  EXPECT_FALSE(fs::exists(paths.error_file()));
  expect_file(json::parse(resumed.body.dump()).at("lora_file"), "application/octet-stream");
  const std::string log = read_bytes(paths.log_file());
  EXPECT_NE(log.find("stage preprocessing: finished before, skipped"), std::string::npos);
  EXPECT_NE(log.find("stage encoding: finished before, skipped"), std::string::npos);
  EXPECT_NE(log.find("trained steps 2..2"), std::string::npos) << log;  // step 1 came from its checkpoint
}

TEST_F(TrainJobTest, BadArchiveWritesThe422BodyWithBillingZeroAndNoResult) {
  std::ofstream(dir_ / "broken.zip") << "this is not a zip archive";
  const JobPaths paths(dir_ / "job");
  core::Progress progress("train", /*draw=*/false);
  const models::ModelFiles files{dir_ / "unused.safetensors", dir_ / "unused-gemma"};  // never reached
  const auto run =
      run_recorded_job(make_request(dir_ / "broken.zip"), paths, files, tiny_options(), progress);
  EXPECT_EQ(run.exit_code, 2);  // DECISIONS.md §31
  const json body = json::parse(read_bytes(paths.error_file()));
  EXPECT_EQ(body, json::parse(run.body.dump()));
  EXPECT_EQ(body.at("status").get<int>(), 422);
  ASSERT_FALSE(body.at("detail").empty());
  EXPECT_EQ(body.at("detail").at(0).at("loc").at(1), "training_data_url") << body.dump(2);
  EXPECT_EQ(body.at("billing").at("units").get<int64_t>(), 0);
  EXPECT_EQ(body.at("billing").at("cost_usd").get<std::string>(), "0.00");
  EXPECT_FALSE(fs::exists(paths.result_file()));
  EXPECT_TRUE(fs::exists(paths.log_file()));
}

TEST_F(TrainJobTest, AFolderHoldingAnotherRequestIsRefused) {
  const JobPaths paths(dir_ / "job");
  core::Progress progress("train", /*draw=*/false);
  const models::ModelFiles files{dir_ / "unused.safetensors", dir_ / "unused-gemma"};
  std::ofstream(dir_ / "broken.zip") << "not a zip";
  run_recorded_job(make_request(dir_ / "broken.zip"), paths, files, tiny_options(), progress);
  const auto other =
      run_recorded_job(make_request(dir_ / "clips.zip"), paths, files, tiny_options(), progress);
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.body.at("detail").at(0).at("msg").get<std::string>().find("different request"),
            std::string::npos)
      << other.body.dump(2);
}

}  // namespace
}  // namespace avtrain::service
