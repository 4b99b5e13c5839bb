// Uploads through the storage routes (service/uploads.h, DECISIONS.md §38), without HTTP: initiation,
// single-part and multipart bodies streamed to the data folder, the size cap, and resolution of a
// request's upload URL for its own key only. tests/e2e runs them through the official client.
#include "service/uploads.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "service/job_store.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kPublicUrl = "http://127.0.0.1:8123";

// A request body delivered in chunks of `chunk` bytes.
BodyReader body_of(const std::string& bytes, size_t chunk = 7) {
  return [bytes, chunk](const std::function<bool(const char*, size_t)>& receive) {
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      if (!receive(bytes.data() + at, std::min(chunk, bytes.size() - at))) return false;
    }
    return true;
  };
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class UploadsTest : public ::testing::Test {
 protected:
  UploadsTest() : store_(dir_ / "jobs.sqlite3"), uploads_(store_, {dir_ / "uploads", 1000, kPublicUrl}) {}

  // initiate's answer, parsed; expects 200.
  json initiate(const std::string& owner, const std::string& name, bool multipart = false) {
    const auto answer = uploads_.initiate(
        owner, json{{"content_type", "application/zip"}, {"file_name", name}}.dump(), multipart);
    EXPECT_EQ(answer.status, 200) << answer.body;
    return json::parse(answer.body);
  }
  static std::string token_of(const json& initiated) {
    const std::string url = initiated.at("upload_url");
    return url.substr(url.rfind('/') + 1);
  }

  testing::TempDir dir_;
  JobStore store_;
  Uploads uploads_;
};

TEST_F(UploadsTest, ASinglePartUploadIsStoredAndResolvesForItsOwnKeyOnly) {
  const json initiated = initiate("key-a", "my clips.zip");
  const std::string upload_url = initiated.at("upload_url");
  const std::string file_url = initiated.at("file_url");
  EXPECT_TRUE(upload_url.starts_with(std::string(kPublicUrl) + "/storage/upload/")) << upload_url;
  EXPECT_TRUE(file_url.starts_with(std::string(kPublicUrl) + "/files/")) << file_url;
  EXPECT_TRUE(file_url.ends_with("/my%20clips.zip")) << file_url;
  EXPECT_TRUE(uploads_.is_upload_url(file_url));
  EXPECT_FALSE(uploads_.is_upload_url("http://elsewhere.example/files/" + std::string(32, 'a') + "/x.zip"));

  // Not complete yet: a request naming it is told to finish the upload.
  try {
    uploads_.resolve(file_url, "key-a", "training_data_url");
    FAIL() << "an incomplete upload resolved";
  } catch (const core::InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("not complete"), std::string::npos) << error.what();
  }
  const std::string bytes = "PK\x03\x04 a zip archive's bytes";
  const auto put = uploads_.write_file(token_of(initiated), body_of(bytes));
  EXPECT_EQ(put.status, 200) << put.body;
  const fs::path stored = uploads_.resolve(file_url, "key-a", "training_data_url");
  EXPECT_EQ(read_file(stored), bytes);
  EXPECT_TRUE(stored.string().starts_with((dir_ / "uploads").string())) << stored;

  try {
    uploads_.resolve(file_url, "key-b", "validation[0].reference_video_url");
    FAIL() << "another key's upload resolved";
  } catch (const core::InvalidInput& error) {
    ASSERT_EQ(error.problems().size(), 1u);
    EXPECT_EQ(error.problems()[0].loc,
              (std::vector<std::string>{"body", "validation", "0", "reference_video_url"}));
    EXPECT_EQ(std::string(error.what()).find(stored.string()), std::string::npos)
        << "a server path: " << error.what();
  }
  const auto again = uploads_.write_file(token_of(initiated), body_of("other"));
  EXPECT_EQ(again.status, 409) << "a completed upload is not overwritten";
  EXPECT_EQ(read_file(stored), bytes);
  EXPECT_EQ(uploads_.write_file(std::string(32, '0'), body_of("x")).status, 404);
}

TEST_F(UploadsTest, TheSizeCapRefusesABodyAndKeepsNothing) {
  const json initiated = initiate("key-a", "big.zip");
  const auto put = uploads_.write_file(token_of(initiated), body_of(std::string(1001, 'x'), 100));
  EXPECT_EQ(put.status, 413) << put.body;
  EXPECT_NE(put.body.find("--max-upload-size"), std::string::npos) << put.body;
  const std::string id =
      initiated.at("file_url").get<std::string>().substr(std::string(kPublicUrl).size() + 7, 32);
  for (const auto& entry : fs::directory_iterator(dir_ / "uploads" / id))
    ADD_FAILURE() << "left behind: " << entry.path();
  EXPECT_EQ(uploads_.write_file(token_of(initiated), body_of(std::string(1000, 'x'))).status, 200);
}

TEST_F(UploadsTest, MultipartPartsJoinInOrderOnceEveryEtagMatches) {
  const json initiated = initiate("key-a", "parts.zip", /*multipart=*/true);
  const std::string token = token_of(initiated);
  EXPECT_EQ(uploads_.write_file(token, body_of("x")).status, 409) << "a multipart upload takes parts";
  const auto part2 = uploads_.write_part(token, 2, body_of("BBBB"));
  const auto part1 = uploads_.write_part(token, 1, body_of("AAA"));
  ASSERT_EQ(part1.status, 200) << part1.body;
  ASSERT_EQ(part2.status, 200) << part2.body;
  const json tag1 = json::parse(part1.body), tag2 = json::parse(part2.body);
  EXPECT_EQ(tag1.at("partNumber"), 1);
  EXPECT_EQ(tag1.at("etag").get<std::string>().size(), 32u);
  EXPECT_NE(tag1.at("etag"), tag2.at("etag"));

  const json gap = {{"parts", {{{"partNumber", 2}, {"etag", tag2["etag"]}}}}};
  EXPECT_EQ(uploads_.complete(token, gap.dump()).status, 400) << "part 1 missing";
  const json wrong = {
      {"parts", {{{"partNumber", 1}, {"etag", tag2["etag"]}}, {{"partNumber", 2}, {"etag", tag2["etag"]}}}}};
  EXPECT_EQ(uploads_.complete(token, wrong.dump()).status, 400) << "part 1's etag differs";
  EXPECT_EQ(uploads_.complete(token, "{}").status, 422);

  const json parts = {
      {"parts", {{{"partNumber", 2}, {"etag", tag2["etag"]}}, {{"partNumber", 1}, {"etag", tag1["etag"]}}}}};
  const auto done = uploads_.complete(token, parts.dump());
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(json::parse(done.body).at("file_url"), initiated.at("file_url"));
  EXPECT_EQ(
      read_file(uploads_.resolve(initiated.at("file_url").get<std::string>(), "key-a", "training_data_url")),
      "AAABBBB");
  EXPECT_EQ(uploads_.write_part(token, 3, body_of("C")).status, 409) << "complete: no more parts";
}

TEST_F(UploadsTest, MultipartPartsAddingUpAboveTheCapAreRefused) {
  const json initiated = initiate("key-a", "parts.zip", /*multipart=*/true);
  const std::string token = token_of(initiated);
  const json tag1 = json::parse(uploads_.write_part(token, 1, body_of(std::string(600, 'a'))).body);
  const json tag2 = json::parse(uploads_.write_part(token, 2, body_of(std::string(600, 'b'))).body);
  const json parts = {
      {"parts", {{{"partNumber", 1}, {"etag", tag1["etag"]}}, {{"partNumber", 2}, {"etag", tag2["etag"]}}}}};
  EXPECT_EQ(uploads_.complete(token, parts.dump()).status, 413);
}

TEST_F(UploadsTest, FileNamesAreOnePathComponent) {
  const json initiated = initiate("key-a", "../../etc/passwd");
  EXPECT_TRUE(initiated.at("file_url").get<std::string>().ends_with("/passwd")) << initiated.dump();
  const json hidden = initiate("key-a", ".env");
  EXPECT_TRUE(hidden.at("file_url").get<std::string>().ends_with("/env")) << hidden.dump();
  const auto bad = uploads_.initiate("key-a", R"({"file_name": 5})", false);
  EXPECT_EQ(bad.status, 422) << bad.body;
}

TEST(ByteSize, ReadsBinaryUnits) {
  EXPECT_EQ(parse_byte_size("20GiB", "--max-upload-size"), uint64_t{20} << 30);
  EXPECT_EQ(parse_byte_size("500M", "--max-upload-size"), uint64_t{500} << 20);
  EXPECT_EQ(parse_byte_size("1.5 KiB", "--max-upload-size"), 1536u);
  EXPECT_EQ(parse_byte_size("4096", "--max-upload-size"), 4096u);
  for (const std::string bad : {"", "GiB", "-5", "5 PB", "1.2.3M", "0"}) {
    EXPECT_THROW(parse_byte_size(bad, "--max-upload-size"), core::InvalidInput) << bad;
  }
}

}  // namespace
}  // namespace avtrain::service
