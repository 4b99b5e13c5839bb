#include "models/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "core/safetensors.h"
#include "testing/temp_dir.h"

namespace avtrain::models {
namespace {

namespace fs = std::filesystem;

std::string message_of(const core::Metadata& metadata) {
  try {
    checkpoint_config(metadata, "model.safetensors");
  } catch (const core::InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointConfig, ParsesTheMetadataConfig) {
  const auto config = checkpoint_config({{"config", R"({"transformer": {"num_layers": 2}})"}}, "x");
  EXPECT_EQ(config.at("transformer").at("num_layers"), 2);
}

TEST(CheckpointConfig, NamesTheFileWhenTheConfigIsAbsentOrNotAnObject) {
  const auto absent = message_of({{"model_version", "2.3.0"}});
  EXPECT_NE(absent.find("model.safetensors"), std::string::npos) << absent;
  EXPECT_NE(absent.find("no __metadata__ 'config'"), std::string::npos) << absent;
  const auto broken = message_of({{"config", "{\"transformer\": "}});
  EXPECT_NE(broken.find("model.safetensors"), std::string::npos) << broken;
  EXPECT_NE(broken.find("not valid JSON"), std::string::npos) << broken;
  const auto array = message_of({{"config", "[1, 2]"}});
  EXPECT_NE(array.find("array"), std::string::npos) << array;
}

TEST(CheckpointConfig, ReadsItFromAFile) {
  testing::TempDir dir;
  const auto path = dir / "model.safetensors";
  core::write_safetensors(path, {}, {{"config", R"({"vae": {"latent_channels": 8}})"}});
  const auto set = core::SafetensorsSet::open_file(path);
  EXPECT_EQ(checkpoint_config(set).at("vae").at("latent_channels"), 8);
  core::write_safetensors(path, {}, {});
  try {
    checkpoint_config(core::SafetensorsSet::open_file(path));
    FAIL() << "a file without config was accepted";
  } catch (const core::InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(ModelFiles, PathsAreCheckedAndNamed) {
  testing::TempDir dir;
  const auto checkpoint = dir / "ltx.safetensors";
  std::ofstream(checkpoint) << "x";
  fs::create_directories(dir / "gemma");
  std::ofstream(dir / "gemma" / "config.json") << "{}";
  const auto files = resolve_model_files(checkpoint.string(), (dir / "gemma").string(), dir.path());
  EXPECT_EQ(files.checkpoint, checkpoint);
  EXPECT_EQ(files.text_encoder_dir, dir / "gemma");

  const auto expect_error = [&](const std::string& model, const std::string& text, const std::string& needle) {
    try {
      resolve_model_files(model, text, dir.path());
      ADD_FAILURE() << "accepted " << model << " / " << text;
    } catch (const core::InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error((dir / "absent.safetensors").string(), (dir / "gemma").string(), "does not exist");
  expect_error(dir.path().string(), (dir / "gemma").string(), "is not a file");
  expect_error(checkpoint.string(), (dir / "nothing").string(), "does not exist");
  expect_error(checkpoint.string(), checkpoint.string(), "is not a directory");
  expect_error(checkpoint.string(), dir.path().string(), "holds no config.json");
  // Nothing was generated for paths.
  EXPECT_FALSE(fs::exists(dir / "tiny-model-v1"));
}

}  // namespace
}  // namespace avtrain::models
