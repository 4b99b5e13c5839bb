// The dataset's refusals as a table (STYLE.md §8): each bad archive, built here from generated clips,
// with the loc and the words its 422 problem must carry.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "dataset/dataset_check.h"
#include "media/test_media.h"
#include "testing/temp_dir.h"
#include "zip_builder.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;
using avtrain::testing::TempDir;
using testing::read_bytes;
using testing::ZipBuilder;

// 32x32 clips at 24 fps: `ok` lasts 2 s with a tone, `mute` 2 s without audio, `short_` 0.5 s.
struct Clips {
  std::string ok, mute, short_;
};

struct BadArchive {
  std::string name;
  std::function<void(const fs::path& zip, const Clips& clips)> write;
  std::string loc;  // the entry named by the first problem; "" for the archive itself
  std::string msg_contains;
  ArchiveLimits limits = {};
  int frames = 9;
};

void write_raw(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::vector<BadArchive> bad_archives() {
  using Z = ZipBuilder;
  return {
      {"ZipSlip", [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).file("../a_end.mp4", c.ok).write(p); },
       "../a_end.mp4", "'..' component"},
      {"ZipSlipInsideAFolder",
       [](auto& p, auto& c) { Z().file("set/../../a_end.mp4", c.ok).file("a_start.mp4", c.ok).write(p); },
       "set/../../a_end.mp4", "'..' component"},
      {"ZipSlipWithBackslashes",
       [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).file("..\\a_end.mp4", c.ok).write(p); },
       "..\\a_end.mp4", "'..' component"},
      {"NameWithAControlCharacter",
       [](auto& p, auto& c) { Z().file("a\n_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p); },
       "a\n_start.mp4", "holds a control character (0x0A at byte 1)"},
      {"NameClaimingUtf8ThatIsNot",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("\xff\xfe_end.mp4", c.ok).write(p);
         // Names without the UTF-8 flag are read as CP437 (legacy Windows zips, converted); this one
         // claims UTF-8 (bit 11 of its central header's flags) and is not, which libzip itself refuses.
         auto bytes = read_bytes(p);
         const size_t central = bytes.rfind(std::string("PK\x01\x02"));
         bytes[central + 9] = static_cast<char>(bytes[central + 9] | 0x08);
         write_raw(p, bytes);
       },
       "", "is not a readable zip archive"},
      {"EncryptedEntry",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).encrypted("a_end.mp4", c.ok, "secret").write(p);
       },
       "a_end.mp4", "is encrypted; send an archive without a password"},
      {"SpecialFile", [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).fifo("a_end.mp4").write(p); },
       "a_end.mp4", "is a special file"},
      {"CorruptEntryData",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p);
         // Bytes inside the first entry's data (after its 30-byte header and name) turned over: its
         // checksum no longer matches.
         auto bytes = read_bytes(p);
         const size_t data = 30 + std::string("a_start.mp4").size();
         for (size_t at = data + 100; at < data + 108; ++at) bytes[at] = static_cast<char>(~bytes[at]);
         write_raw(p, bytes);
       },
       "a_start.mp4", "is corrupt"},
      {"EntryInflatingBeyondItsDeclaredSize",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p);
         // The first entry declares 100 bytes (in its local header and the central directory) but holds
         // the whole clip.
         auto bytes = read_bytes(p);
         const auto declare_100 = [&](size_t at) {
           bytes[at] = 100;
           bytes[at + 1] = bytes[at + 2] = bytes[at + 3] = 0;
         };
         declare_100(22);
         declare_100(bytes.find(std::string("PK\x01\x02")) + 24);
         write_raw(p, bytes);
       },
       "a_start.mp4", "holds more data than its declared 100 bytes"},
      {"FileAndFolderOfOneName",
       [](auto& p, auto& c) {
         Z().file("set", "x").file("set/a_start.mp4", c.ok).file("set/a_end.mp4", c.ok).write(p);
       },
       "set", "is both a file and a folder"},
      {"FolderAndFileOfOneName",
       [](auto& p, auto& c) {
         Z().file("set/a_start.mp4", c.ok).file("set/a_end.mp4", c.ok).file("set", "x").write(p);
       },
       "set", "is both a file and a folder"},
      {"AbsolutePath",
       [](auto& p, auto& c) { Z().file("/tmp/a_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p); },
       "/tmp/a_start.mp4", "has an absolute path"},
      {"WindowsDrivePath",
       [](auto& p, auto& c) { Z().file("C:/clips/a_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p); },
       "C:/clips/a_start.mp4", "has an absolute path"},
      {"Symlink",
       [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).symlink("a_end.mp4", "/etc/passwd").write(p); },
       "a_end.mp4", "is a symbolic link"},
      {"BombByRatio",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_end.mp4", std::string(11 << 20, '\0')).write(p);
       },
       "a_end.mp4", "looks like a zip bomb"},
      {"BombByTotalSize",
       [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p); }, "",
       "uncompressed, more than the limit of 16.0 KiB", ArchiveLimits{10'000, 16 << 10}},
      {"TooManyEntries",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.ok).file("a.txt", "x").write(p);
       },
       "", "holds 3 entries, more than the limit of 2", ArchiveLimits{2}},
      {"SamePathTwice",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("./a_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p);
       },
       "./a_start.mp4", "appears twice"},
      {"TargetWithoutReference",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.ok).file("b_end.mov", c.ok).write(p);
       },
       "b_end.mov", "has no reference clip: add b_start.mov"},
      {"ReferenceWithoutTarget", [](auto& p, auto& c) { Z().file("set/b_start.mkv", c.ok).write(p); },
       "set/b_start.mkv", "has no target clip: add b_end.mkv"},
      {"DuplicateNamesAcrossFolders",
       [](auto& p, auto& c) {
         Z().file("x/a_start.mp4", c.ok)
             .file("x/a_end.mp4", c.ok)
             .file("y/a_start.mp4", c.ok)
             .file("y/a_end.mp4", c.ok)
             .write(p);
       },
       "y/a_start.mp4", "a_start is used 2 times (x/a_start.mp4 and y/a_start.mp4)"},
      {"DuplicateNamesAcrossExtensions",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_start.MOV", c.ok).file("a_end.mp4", c.ok).write(p);
       },
       "a_start.MOV", "a_start is used 2 times (a_start.mp4 and a_start.MOV)"},
      {"DuplicateCaptions",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok)
             .file("a_end.mp4", c.ok)
             .file("a.txt", "x")
             .file("set/a.txt", "y")
             .write(p);
       },
       "set/a.txt", "caption a.txt appears 2 times"},
      {"ClipWithoutName",
       [](auto& p, auto& c) { Z().file("_start.mp4", c.ok).file("_end.mp4", c.ok).write(p); }, "_start.mp4",
       "_start.mp4 has no name before _start"},
      {"TargetWithoutAudio",
       [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.mute).write(p); },
       "a_end.mp4",
       "a_end.mp4 has no audio track; both clips of a pair need one (its reference is a_start.mp4)"},
      {"ReferenceWithoutAudio",
       [](auto& p, auto& c) { Z().file("a_start.mp4", c.mute).file("a_end.mp4", c.ok).write(p); },
       "a_start.mp4",
       "a_start.mp4 has no audio track; both clips of a pair need one (its target is a_end.mp4)"},
      {"TooShortWithoutAutoScale",
       [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.short_).write(p); },
       "",
       "no pair is long enough for 41 frames at 24 fps",
       {},
       41},
      {"CorruptMedia",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_end.mp4", std::string(4000, '\x5a')).write(p);
       },
       "a_end.mp4", "a_end.mp4 cannot be read as a video"},
      {"TruncatedMedia",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok.substr(0, 400)).file("a_end.mp4", c.ok).write(p);
       },
       "a_start.mp4", "a_start.mp4 cannot be read as a video"},
      {"EmptyClip", [](auto& p, auto& c) { Z().file("a_start.mp4", c.ok).file("a_end.webm", "").write(p); },
       "a_end.webm", "a_end.webm cannot be read as a video"},
      {"NoPairsAtAll", [](auto& p, auto& c) { Z().file("dance.mp4", c.ok).file("song.mp4", c.ok).write(p); },
       "", "has no clip pairs: it holds 2 videos without _start/_end"},
      {"EmptyZip", [](auto& p, auto&) { write_raw(p, std::string("PK\x05\x06", 4) + std::string(18, '\0')); },
       "", "is empty"},
      {"NotAZip", [](auto& p, auto& c) { write_raw(p, c.ok); }, "", "is not a readable zip archive"},
      {"TruncatedZip",
       [](auto& p, auto& c) {
         Z().file("a_start.mp4", c.ok).file("a_end.mp4", c.ok).write(p);
         const auto bytes = read_bytes(p);
         write_raw(p, bytes.substr(0, bytes.size() - 30));
       },
       "", "is not a readable zip archive"},
      {"OnlyUnsupportedFiles",
       [](auto& p, auto&) {
         Z().file("a.gif", "GIF89a").file("b.wav", "RIFF").file("c.pdf", "%PDF").write(p);
       },
       "", "3 other files"},
      {"CaptionsWithoutClips",
       [](auto& p, auto&) { Z().file("a.txt", "a cat").file("b.txt", "a dog").write(p); }, "",
       "2 captions without clips"},
      {"OnlyMacMetadataAndHiddenFiles",
       [](auto& p, auto& c) {
         Z().file("__MACOSX/._a_start.mp4", "x")
             .file(".DS_Store", "x")
             .file(".hidden/a_end.mp4", c.ok)
             .write(p);
       },
       "", "holds no files (hidden files and macOS metadata are ignored)"},
      {"FoldersOnly", [](auto& p, auto&) { Z().folder("clips/").folder("clips/more/").write(p); }, "",
       "holds no files"},
  };
}

class BadArchiveTable : public ::testing::TestWithParam<BadArchive> {
 protected:
  static void SetUpTestSuite() {
    TempDir dir("avtrain-bad-archive-clips");
    media::TestClipOptions clip;
    clip.width = 32;
    clip.height = 32;
    clip.frames = 48;
    media::write_test_clip(dir / "ok.mp4", clip);
    clip.audio = false;
    media::write_test_clip(dir / "mute.mp4", clip);
    clip.audio = true;
    clip.frames = 12;
    media::write_test_clip(dir / "short.mp4", clip);
    clips_ = std::make_unique<Clips>(
        Clips{read_bytes(dir / "ok.mp4"), read_bytes(dir / "mute.mp4"), read_bytes(dir / "short.mp4")});
  }
  static void TearDownTestSuite() { clips_.reset(); }
  static inline std::unique_ptr<Clips> clips_;
};

TEST_P(BadArchiveTable, IsRefusedWithItsProblem) {
  const BadArchive& bad = GetParam();
  TempDir dir;
  bad.write(dir / "clips.zip", *clips_);
  DatasetOptions options;
  options.width = options.height = 32;
  options.frames = bad.frames;
  const auto report = check_dataset(dir / "clips.zip", dir / "extracted", "clips.zip", options, bad.limits);
  ASSERT_TRUE(report.rejected()) << to_text(report);
  const auto& problem = report.problems.front();
  std::vector<std::string> loc{"body", "training_data_url"};
  if (!bad.loc.empty()) loc.push_back(bad.loc);
  EXPECT_EQ(problem.loc, loc) << problem.msg;
  EXPECT_EQ(problem.type, "value_error");
  EXPECT_NE(problem.msg.find(bad.msg_contains), std::string::npos) << problem.msg;
  EXPECT_TRUE(problem.msg.starts_with("clips.zip")) << "a problem names the archive first: " << problem.msg;
  EXPECT_THROW(throw_if_rejected(report), core::DatasetRejected);
  // Nothing escapes the extraction folder.
  EXPECT_FALSE(fs::exists(dir / "a_end.mp4"));
  EXPECT_FALSE(fs::exists("/tmp/a_start.mp4"));
}

INSTANTIATE_TEST_SUITE_P(Dataset, BadArchiveTable, ::testing::ValuesIn(bad_archives()),
                         [](const ::testing::TestParamInfo<BadArchive>& info) { return info.param.name; });

}  // namespace
}  // namespace avtrain::dataset
