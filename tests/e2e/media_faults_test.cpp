// Refusals no crafted file reaches, driven by FFmpeg faults injected into the avtrain binary
// (tests/testing/ffmpeg_faults.cpp, LD_PRELOAD): a read error while frames are counted, a read error
// part-way through the audio, and a decoder that will not open. Each is refused naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "media/test_media.h"
#include "testing/child_process.h"
#include "testing/golden_dir.h"
#include "testing/temp_dir.h"

namespace avtrain::media {
namespace {

namespace fs = std::filesystem;

struct Finished {
  int exit_code;
  std::string err;
};

// `avtrain ARGS...` with the fault library preloaded and `faults` in its environment.
Finished run_with_faults(const fs::path& dir, const std::vector<std::string>& arguments,
                         std::map<std::string, std::string> faults) {
  std::vector<std::string> argv{testing::avtrain_binary().string()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  faults.emplace("LD_PRELOAD", AVTRAIN_FFMPEG_FAULTS);
  faults.emplace("AVTRAIN_THREADS", "1");
  testing::ChildProcess process(argv, faults, dir / "run.out", dir / "run.err");
  const int exit_code = process.exit_code();
  return {exit_code, process.err()};
}

class MediaFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::avtrain_binary()))
      GTEST_SKIP() << testing::avtrain_binary() << " was not built (AVTRAIN_WITH_SERVICE off)";
  }
  testing::TempDir dir_{"avtrain-media-faults"};
};

TEST_F(MediaFaults, AReadErrorWhileFramesAreCountedIsRefusedNamingTheFile) {
  TestClipOptions clip;
  clip.frames = 24;
  write_test_clip(dir_ / "counted.mkv", clip);  // Matroska declares no frame count: probe counts packets
  const auto run =
      run_with_faults(dir_.path(), {"media", "probe", (dir_ / "counted.mkv").string()},
                      {{"AVTRAIN_FAULT_FILE", "counted.mkv"}, {"AVTRAIN_FAULT_READ_AFTER", "5"}});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("counted.mkv: reading its packets failed after"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("Input/output error"), std::string::npos) << run.err;
}

TEST_F(MediaFaults, AReadErrorPartWayThroughTheAudioIsRefusedNamingTheFile) {
  TestClipOptions clip;
  clip.frames = 48;  // 2 s: the 9-frame video window is read long before the audio's end
  write_test_clip(dir_ / "talk.mp4", clip);
  const auto run = run_with_faults(dir_.path(),
                                   {"media", "fit", (dir_ / "talk.mp4").string(), "--resolution", "low",
                                    "--frames", "9", "--out", (dir_ / "fitted.mp4").string()},
                                   {{"AVTRAIN_FAULT_FILE", "talk.mp4"}, {"AVTRAIN_FAULT_READ_AFTER", "60"}});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("talk.mp4: reading its audio failed after"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir_ / "fitted.mp4"));
}

TEST_F(MediaFaults, ADecoderThatWillNotOpenIsRefusedNamingTheFileAndTheCodec) {
  TestClipOptions clip;
  clip.frames = 12;
  write_test_clip(dir_ / "clip.mp4", clip);
  const auto run = run_with_faults(dir_.path(),
                                   {"media", "fit", (dir_ / "clip.mp4").string(), "--resolution", "low",
                                    "--frames", "9", "--out", (dir_ / "fitted.mp4").string()},
                                   {{"AVTRAIN_FAULT_FILE", "clip.mp4"}, {"AVTRAIN_FAULT_CODEC_OPEN", "1"}});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("clip.mp4: cannot open the h264 decoder (Cannot allocate memory)"),
            std::string::npos)
      << run.err;
}

}  // namespace
}  // namespace avtrain::media
