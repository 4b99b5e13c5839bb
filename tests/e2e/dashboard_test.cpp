// The dashboard (issue 26) against a real `avtrain serve` with the tiny model: its routes through HTTP
// (the embedded site, the request schema, the dataset check, a job's curves and stage timeline), and
// the whole dashboard in Debian's headless Chromium (tests/e2e/dashboard_check.mjs).
#include "e2e/serve_fixture.h"
#include "media/probe.h"

namespace avtrain::service::serve_testing {
namespace {

TEST_F(ServeTest, DashboardRoutesServeTheSiteTheSchemaADatasetCheckAndAJobsCurvesAndStages) {
  ServeProcess server(dir_.path(), serve_args(/*steps=*/3));
  server.start();
  const Api api(server.port());

  // The embedded site: the page, its modules and the pinned uPlot, each with its type.
  const auto page = api.get("/");
  ASSERT_TRUE(page && page->status == 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find(R"(<script type="module" src="/ui/app.js">)"), std::string::npos);
  for (const std::string path : {"/ui/app.js", "/ui/api.js", "/ui/job.js", "/ui/vendor/uPlot.esm.js"}) {
    const auto module = api.get(path);
    ASSERT_TRUE(module && module->status == 200) << path;
    EXPECT_EQ(module->get_header_value("Content-Type"), "text/javascript; charset=utf-8") << path;
    EXPECT_GT(module->body.size(), 500u) << path;
  }
  EXPECT_EQ(api.get("/ui/vendor/uPlot.min.css")->get_header_value("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(api.get("/ui/missing.js")->status, 404);
  EXPECT_EQ(api.get("/ui/../jobs.sqlite3")->status, 404);

  // The schema: every field with the parser's defaults.
  const json schema = body_of(api.get(std::string(kPrefix) + "/schema"), "GET /schema");
  ASSERT_EQ(schema["fields"].size(), 25u);
  EXPECT_EQ(schema["fields"][2]["name"], "rank");
  EXPECT_EQ(schema["fields"][2]["default"], 32);

  // The dataset check: the report training would make, at the server's size overrides (32x32, 9 frames).
  const auto checked = api.post(std::string(kPrefix) + "/dataset-check", request().dump());
  const json report = body_of(checked, "POST /dataset-check");
  ASSERT_EQ(checked->status, 200) << report.dump();
  EXPECT_EQ(report["archive"], "clips.zip");
  ASSERT_EQ(report["pairs"].size(), 2u) << report.dump();
  EXPECT_EQ(report["qualifying_pairs"], 2);
  EXPECT_EQ(report["pairs"][0]["decision"], "used");
  EXPECT_EQ(report["fitted"]["width"], 32);
  EXPECT_EQ(report["fitted"]["frames"], 9);
  EXPECT_EQ(report["billing"]["units"], 100);
  EXPECT_EQ(report["billing"]["cost_usd"], "0.68");
  EXPECT_TRUE(fs::is_empty(data_dir() / "dataset-checks")) << "the check's scratch folder is removed";
  // A bad request is the 422 of a submission; a dataset that is refused is reported, not an error.
  json bad = request();
  bad["number_of_frames"] = 5;
  const auto refused = api.post(std::string(kPrefix) + "/dataset-check", bad.dump());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 422);
  EXPECT_NE(refused->body.find("number_of_frames"), std::string::npos) << refused->body;
  dataset::testing::ZipBuilder()
      .file("a_end.mp4", read_bytes(files_dir() / "tgt.mp4"))
      .write(files_dir() / "orphan.zip");
  const json orphan =
      body_of(api.post(std::string(kPrefix) + "/dataset-check", request(file_url("orphan.zip")).dump()),
              "POST /dataset-check (orphan)");
  EXPECT_EQ(orphan["rejected"], true) << orphan.dump();
  ASSERT_FALSE(orphan["problems"].empty());
  EXPECT_NE(orphan["problems"][0]["msg"].get<std::string>().find("a_end.mp4"), std::string::npos)
      << orphan.dump();
  EXPECT_TRUE(body_of(api.get(std::string(kPrefix) + "/requests"), "GET /requests")["requests"].empty())
      << "a check queues no job";

  // A job's curves (one point per step) and its stage timeline.
  const std::string id = submit(api, request()).at("request_id").get<std::string>();
  const json status = wait_until_completed(api, id, server);
  ASSERT_EQ(status["outcome"], "succeeded") << status.dump();
  // The log users read names no server folder: the job's own is "<job>".
  const json logged = body_of(api.get(status_path(id) + "?logs=1"), "GET status with logs");
  bool names_job_folder = false;
  for (const auto& line : logged["logs"]) {
    const std::string message = line["message"];
    EXPECT_EQ(message.find(data_dir().string()), std::string::npos) << message;
    EXPECT_EQ(message.find((dir_ / "model-cache").string()), std::string::npos) << message;
    names_job_folder = names_job_folder || message.find("<job>/previews/") != std::string::npos ||
                       message.find("<job>/training/") != std::string::npos;
  }
  EXPECT_TRUE(names_job_folder) << logged["logs"].dump();
  std::vector<std::string> stages;
  for (const auto& stage : status["stages"]) {
    stages.push_back(stage["stage"]);
    EXPECT_TRUE(stage["seconds"].is_number()) << stage.dump();
    EXPECT_GE(stage["seconds"].get<double>(), 0) << stage.dump();
  }
  EXPECT_EQ(stages, (std::vector<std::string>{"downloading", "preprocessing", "encoding", "training",
                                              "validating", "uploading"}))
      << status["stages"].dump();
  const json metrics = body_of(api.get(std::string(kPrefix) + "/requests/" + id + "/metrics"), "GET metrics");
  EXPECT_EQ(metrics["step"], json::array({1, 2, 3})) << metrics.dump();
  EXPECT_EQ(metrics["total_steps"], 3);
  EXPECT_EQ(metrics["series"]["video_loss"].size(), 3u);
  EXPECT_EQ(api.get(std::string(kPrefix) + "/requests/00000000-0000-4000-8000-000000000000/metrics")->status,
            404);

  // Try it: the job's LoRA on a new clip, a job of its own in the same queue, billed 0.
  const json try_it{{"request_id", id},
                    {"reference_video_url", file_url("tgt.mp4")},
                    {"prompt", "ZQX a grey square"},
                    {"num_inference_steps", 3}};
  const auto queued = api.post(std::string(kPrefix) + "/infer", try_it.dump());
  const json reply = body_of(queued, "POST /infer");
  ASSERT_EQ(queued->status, 200) << reply.dump();
  const std::string try_id = reply["request_id"];
  const json tried = wait_until_completed(api, try_id, server);
  ASSERT_EQ(tried["outcome"], "succeeded") << tried.dump();
  EXPECT_EQ(tried["kind"], "inference");
  const json generated = body_of(api.get(result_path(try_id)), "GET the try-it result");
  EXPECT_EQ(generated["billing"]["units"], 0);
  expect_downloadable(generated["video"], server.url(), "video/mp4");
  const auto clip =
      media::probe(job_dir(try_id) / "outputs" / generated["video"]["file_name"].get<std::string>());
  EXPECT_EQ(clip.video.display_width, 32);
  EXPECT_EQ(clip.video.frame_count, 9);
  EXPECT_TRUE(clip.audio.present);
  // The history lists both kinds, newest first.
  const json history = body_of(api.get(std::string(kPrefix) + "/requests"), "GET /requests");
  ASSERT_EQ(history["requests"].size(), 2u);
  EXPECT_EQ(history["requests"][0]["kind"], "inference");
  EXPECT_EQ(history["requests"][1]["kind"], "training");
  // Refused by name: a try-it job is no training job; an unknown job; a missing prompt and reference.
  json of_try_it = try_it;
  of_try_it["request_id"] = try_id;
  const auto not_training = api.post(std::string(kPrefix) + "/infer", of_try_it.dump());
  EXPECT_EQ(not_training->status, 422);
  EXPECT_NE(not_training->body.find("not a training job"), std::string::npos) << not_training->body;
  const auto refused_try = api.post(std::string(kPrefix) + "/infer",
                                    json{{"request_id", "00000000-0000-4000-8000-000000000000"}}.dump());
  ASSERT_EQ(refused_try->status, 422);
  for (const std::string field : {"request_id", "reference_video_url", "prompt"})
    EXPECT_NE(refused_try->body.find("\"" + field + "\""), std::string::npos)
        << field << ": " << refused_try->body;
  server.stop();
}

// The dashboard in Debian's Chromium: sign in, submit the demo dataset through the form with a file
// upload, check it (3 pairs), watch the job to its end, its curves, previews and reel, a 422 next to its
// field, cancel, screenshots. Skipped (failed under CI=1) without chromium or web/node_modules.
TEST(DashboardBrowser, SignInCheckSubmitWatchCancelAndPlayInChromium) {
  const fs::path web_dir = fs::path(AVTRAIN_SOURCE_DIR) / "web";
  const fs::path chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium) || !fs::exists(web_dir / "node_modules" / "puppeteer-core" / "package.json") ||
      std::system("node --version > /dev/null 2>&1")) {
    const std::string why =
        "chromium, node or web/node_modules/puppeteer-core missing (scripts/install-deps.sh)";
    if (std::getenv("CI")) FAIL() << why;
    GTEST_SKIP() << why;
  }
  const testing::TempDir dir("avtrain-dashboard");
  // The demo's dataset: 3 pairs of 48x48 clips of 0.75 s (18 frames at 24 fps, enough for 9).
  testing::ChildProcess demo({testing::avtrain_binary().string(), "demo-dataset", "--out",
                              (dir / "demo").string(), "--pairs", "3", "--size", "48", "--seconds", "0.75"},
                             {}, dir / "demo.out", dir / "demo.err");
  ASSERT_EQ(demo.wait(), 0) << demo.err();
  std::ofstream(dir / "keys.txt") << "dashboard-key\n";

  constexpr int kSteps = 4;
  ServeProcess server(dir.path(),
                      {"--data", (dir / "data").string(), "--model", "tiny", "--text-encoder", "tiny",
                       "--workers", "1", "--device", "cpu", "--api-keys", (dir / "keys.txt").string(),
                       "--demo-size", "32x32", "--demo-frames", "9", "--demo-steps", std::to_string(kSteps)});
  server.start();
  ServeProcess open_server(dir / "open", {"--data", (dir / "open" / "data").string(), "--model", "tiny",
                                          "--text-encoder", "tiny", "--device", "cpu"});
  fs::create_directories(dir / "open");
  open_server.start();
  const fs::path screenshots = fs::path(AVTRAIN_BINARY_DIR) / "dashboard-screenshots";
  const std::string out =
      run_node_script(dir.path(), "dashboard_check.mjs",
                      {{"AVTRAIN_URL", server.url()},
                       {"AVTRAIN_KEY", "dashboard-key"},
                       {"AVTRAIN_OPEN_URL", open_server.url()},
                       {"AVTRAIN_WEB_DIR", web_dir.string()},
                       {"CHROMIUM", chromium.string()},
                       {"DATASET_ZIP", (dir / "demo" / "pairs.zip").string()},
                       {"REFERENCE_VIDEO", (dir / "demo" / "pairs" / "pair1_start.mp4").string()},
                       {"STEPS", std::to_string(kSteps)},
                       {"SECONDS", std::to_string(9.0 / 24.0)},
                       {"SCREENSHOTS", screenshots.string()},
                       {"DEADLINE_MS", "390000"}},  // before the 420 s after which node is killed
                      std::chrono::seconds(420), server.log());
  EXPECT_NE(out.find("all dashboard checks passed"), std::string::npos) << out;
  for (const char* name : {"job-1280x800.png", "job-390x844.png", "jobs-390x844.png", "jobs-1280x800.png"})
    EXPECT_TRUE(fs::exists(screenshots / name)) << name;
  open_server.stop();
  server.stop();
}

}  // namespace
}  // namespace avtrain::service::serve_testing
