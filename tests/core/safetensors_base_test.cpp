// The safetensors format, torch-free: also built and run under AddressSanitizer (label "asan").
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"
#include "core/float_formats.h"
#include "core/safetensors.h"
#include "testing/golden_dir.h"
#include "testing/temp_dir.h"

namespace avtrain::core {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr Dtype kAllDtypes[] = {Dtype::bf16, Dtype::f16,     Dtype::f32,     Dtype::f64,
                                Dtype::i64,  Dtype::i32,     Dtype::i16,     Dtype::i8,
                                Dtype::u8,   Dtype::boolean, Dtype::f8_e4m3, Dtype::f8_e5m2};

std::vector<std::byte> pattern_bytes(size_t count, int seed) {
  std::vector<std::byte> bytes(count);
  for (size_t i = 0; i < count; ++i) bytes[i] = static_cast<std::byte>((i * 37 + seed * 11 + 5) & 0x7F);
  return bytes;
}

// Writes a file from a raw header text and data block, as a hostile or broken producer would.
void write_raw(const fs::path& path, const std::string& header, const std::string& data,
               uint64_t length_field) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&length_field), 8);
  out << header << data;
}
void write_raw(const fs::path& path, const std::string& header, const std::string& data) {
  write_raw(path, header, data, header.size());
}

std::string open_error(const fs::path& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::invalid_input);
    return error.what();
  }
  ADD_FAILURE() << "opening " << path << " did not fail";
  return {};
}

TEST(Safetensors, RoundTripsEveryDtypeWithShapeBytesAndMetadata) {
  TempDir dir;
  std::vector<std::vector<std::byte>> storage;
  std::vector<TensorToWrite> tensors;
  int seed = 0;
  for (const auto dtype : kAllDtypes) {
    const std::vector<int64_t> shape{2, 3};
    storage.push_back(pattern_bytes(6 * dtype_size(dtype), seed++));
    tensors.push_back({"t." + std::string(dtype_name(dtype)), dtype, shape, storage.back()});
  }
  storage.push_back({});
  tensors.push_back({"empty", Dtype::f32, {0, 4}, storage.back()});
  storage.push_back(pattern_bytes(4, 99));
  tensors.push_back({"scalar", Dtype::f32, {}, storage.back()});
  const Metadata metadata{{"config", R"({"transformer":{"num_layers":2}})"}, {"note", "ünïcode ✓"}};
  write_safetensors(dir / "all.safetensors", tensors, metadata);

  const auto file = SafetensorsFile::open(dir / "all.safetensors");
  Metadata with_checksum = metadata;
  ASSERT_EQ(file.metadata().count(kDataChecksumKey), 1u) << "the writer stores the data block's checksum";
  with_checksum[kDataChecksumKey] = file.metadata().at(kDataChecksumKey);
  EXPECT_EQ(file.metadata(), with_checksum);
  EXPECT_FALSE(file.damage());
  ASSERT_EQ(file.entries().size(), tensors.size());
  for (const auto& written : tensors) {
    const auto& entry = file.entry(written.name);
    EXPECT_EQ(entry.dtype, written.dtype) << written.name;
    EXPECT_EQ(entry.shape, written.shape) << written.name;
    const auto bytes = file.bytes(entry);
    ASSERT_EQ(bytes.size(), written.data.size()) << written.name;
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), written.data.begin())) << written.name;
  }
  EXPECT_EQ(file.find("absent"), nullptr);
}

TEST(Safetensors, WriterAlignsTheDataBlockAndLeavesNoTemporaryFile) {
  TempDir dir;
  const auto bytes = pattern_bytes(3, 1);
  write_safetensors(dir / "a.safetensors", {{"x", Dtype::u8, {3}, bytes}});
  std::ifstream in(dir / "a.safetensors", std::ios::binary);
  uint64_t header_length = 0;
  in.read(reinterpret_cast<char*>(&header_length), 8);
  EXPECT_EQ((8 + header_length) % 8, 0u);
  EXPECT_FALSE(fs::exists(dir / "a.safetensors.tmp"));
}

TEST(Safetensors, WriterRefusesDuplicateNamesAndWrongByteCounts) {
  TempDir dir;
  const auto bytes = pattern_bytes(8, 1);
  EXPECT_THROW(
      write_safetensors(dir / "d.safetensors", {{"x", Dtype::u8, {8}, bytes}, {"x", Dtype::u8, {8}, bytes}}),
      InvalidInput);
  EXPECT_THROW(write_safetensors(dir / "w.safetensors", {{"x", Dtype::f32, {3}, bytes}}), InvalidInput);
  EXPECT_FALSE(fs::exists(dir / "w.safetensors"));
}

TEST(Safetensors, RefusesFilesShorterThanTheLengthField) {
  TempDir dir;
  std::ofstream(dir / "short.safetensors") << "abc";
  EXPECT_NE(open_error(dir / "short.safetensors").find("fewer than the 8-byte header length"),
            std::string::npos);
}

TEST(Safetensors, RefusesAbsurdHeaderLength) {
  TempDir dir;
  write_raw(dir / "absurd.safetensors", "{}", "", uint64_t{1} << 62);
  const auto message = open_error(dir / "absurd.safetensors");
  EXPECT_NE(message.find("absurd.safetensors"), std::string::npos);
  EXPECT_NE(message.find("header length"), std::string::npos);
}

TEST(Safetensors, RefusesHeaderRunningPastTheFile) {
  TempDir dir;
  write_raw(dir / "cut.safetensors", "{\"a\":", "", 4000);
  EXPECT_NE(open_error(dir / "cut.safetensors").find("runs past the end"), std::string::npos);
}

TEST(Safetensors, RefusesTruncatedData) {
  TempDir dir;
  const auto bytes = pattern_bytes(64, 2);
  write_safetensors(dir / "full.safetensors", {{"x", Dtype::f32, {16}, bytes}});
  const auto size = fs::file_size(dir / "full.safetensors");
  fs::copy_file(dir / "full.safetensors", dir / "truncated.safetensors");
  fs::resize_file(dir / "truncated.safetensors", size - 10);
  const auto message = open_error(dir / "truncated.safetensors");
  EXPECT_NE(message.find("tensor 'x'"), std::string::npos);
  EXPECT_NE(message.find("past the"), std::string::npos);
}

TEST(Safetensors, RefusesBadJson) {
  TempDir dir;
  write_raw(dir / "json.safetensors", "{\"x\": {\"dtype\": \"F32\",,}}", "");
  EXPECT_NE(open_error(dir / "json.safetensors").find("not valid JSON"), std::string::npos);
  write_raw(dir / "array.safetensors", "[1, 2, 3]", "");
  EXPECT_NE(open_error(dir / "array.safetensors").find("not a JSON object"),
            std::string::npos);  // A number beyond a double is nlohmann's out_of_range, not parse_error:
                                 // refused the same way (found by
  // request_json_fuzz, which crashed on it before).
  write_raw(dir / "huge.safetensors", "{\"x\": {\"data_offsets\": [0, 1e999]}}", "");
  const auto huge = open_error(dir / "huge.safetensors");
  EXPECT_NE(huge.find("not valid JSON"), std::string::npos) << huge;
  EXPECT_NE(huge.find("1e999"), std::string::npos) << huge;
}

TEST(Safetensors, RefusesOffsetsOutOfRange) {
  TempDir dir;
  write_raw(dir / "range.safetensors", R"({"x":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
            std::string(8, 'a'));
  EXPECT_NE(open_error(dir / "range.safetensors").find("past the 8-byte data block"), std::string::npos);
  write_raw(dir / "reversed.safetensors", R"({"x":{"dtype":"U8","shape":[0],"data_offsets":[6,2]}})",
            std::string(8, 'a'));
  EXPECT_NE(open_error(dir / "reversed.safetensors").find("end before begin"), std::string::npos);
}

TEST(Safetensors, RefusesOverlappingTensors) {
  TempDir dir;
  write_raw(
      dir / "overlap.safetensors",
      R"({"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},"b":{"dtype":"U8","shape":[6],"data_offsets":[4,10]}})",
      std::string(10, 'a'));
  const auto message = open_error(dir / "overlap.safetensors");
  EXPECT_NE(message.find("'a' and 'b' overlap"), std::string::npos);
}

TEST(Safetensors, RefusesByteCountThatDisagreesWithShapeAndDtype) {
  TempDir dir;
  write_raw(dir / "count.safetensors", R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
            std::string(20, 'a'));
  const auto message = open_error(dir / "count.safetensors");
  EXPECT_NE(message.find("holds 20 bytes but shape [2,3] of F32 needs 24"), std::string::npos) << message;
}

TEST(Safetensors, RefusesUnknownDtypeMissingFieldsAndNonStringMetadata) {
  TempDir dir;
  write_raw(dir / "dtype.safetensors", R"({"x":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}})", "a");
  EXPECT_NE(open_error(dir / "dtype.safetensors").find("unsupported dtype 'F4'"), std::string::npos);
  write_raw(dir / "fields.safetensors", R"({"x":{"dtype":"U8","data_offsets":[0,1]}})", "a");
  EXPECT_NE(open_error(dir / "fields.safetensors").find("no shape"), std::string::npos);
  write_raw(dir / "negative.safetensors", R"({"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "a");
  EXPECT_NE(open_error(dir / "negative.safetensors").find("non-negative"), std::string::npos);
  write_raw(dir / "metadata.safetensors", R"({"__metadata__":{"n":3}})", "");
  EXPECT_NE(open_error(dir / "metadata.safetensors").find("'n' is not a string"), std::string::npos);
  write_raw(dir / "huge.safetensors",
            R"({"x":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,1]}})", "a");
  EXPECT_NE(open_error(dir / "huge.safetensors").find("overflows"), std::string::npos);
}

TEST(Safetensors, RefusesMissingFileNamingIt) {
  const auto message = open_error("/nonexistent/model.safetensors");
  EXPECT_NE(message.find("/nonexistent/model.safetensors"), std::string::npos);
}

TEST(Safetensors, NeverCrashesOnRandomCorruptionsOfAValidFile) {
  TempDir dir;
  const auto bytes = pattern_bytes(48, 3);
  write_safetensors(dir / "good.safetensors", {{"a", Dtype::f32, {4, 3}, bytes}}, {{"k", "v"}});
  std::string good;
  {
    std::ifstream in(dir / "good.safetensors", std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  uint32_t state = 12345;
  for (int round = 0; round < 300; ++round) {
    std::string corrupt = good;
    for (int flips = 0; flips < 3; ++flips) {
      state = state * 1664525u + 1013904223u;
      corrupt[state % std::min<size_t>(corrupt.size(), 120)] = static_cast<char>(state >> 24);
    }
    std::ofstream(dir / "c.safetensors", std::ios::binary | std::ios::trunc) << corrupt;
    try {
      const auto file = SafetensorsFile::open(dir / "c.safetensors");
      for (const auto& entry : file.entries()) EXPECT_LE(entry.begin + entry.nbytes, corrupt.size());
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("c.safetensors"), std::string::npos);
    }
  }
}

TEST(SafetensorsSet, ReadsAShardedDirectoryThroughItsIndex) {
  TempDir dir;
  const auto a = pattern_bytes(8, 1), b = pattern_bytes(4, 2);
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"layer.0.w", Dtype::f32, {2}, a}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"layer.1.w", Dtype::bf16, {2}, b}});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata":{"total_size":12},"weight_map":{"layer.0.w":"model-00001-of-00002.safetensors",)"
      << R"("layer.1.w":"model-00002-of-00002.safetensors"}})";
  const auto set = SafetensorsSet::open(dir.path());
  EXPECT_EQ(set.names(), (std::vector<std::string>{"layer.0.w", "layer.1.w"}));
  EXPECT_EQ(set.at("layer.1.w").entry->dtype, Dtype::bf16);
  EXPECT_EQ(set.files().size(), 2u);
  EXPECT_THROW(set.at("layer.2.w"), InvalidInput);
}

TEST(SafetensorsSet, RefusesAnIndexNamingATensorItsShardLacks) {
  TempDir dir;
  const auto a = pattern_bytes(8, 1);
  write_safetensors(dir / "shard.safetensors", {{"w", Dtype::f32, {2}, a}});
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map":{"v":"shard.safetensors"}})";
  try {
    SafetensorsSet::open(dir.path());
    FAIL() << "expected an error";
  } catch (const InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("'v'"), std::string::npos);
  }
}

TEST(SafetensorsSet, RefusesADirectoryItCannotReadAsOneModelNamingWhy) {
  const auto message_of = [](const fs::path& directory) {
    try {
      SafetensorsSet::open(directory);
    } catch (const InvalidInput& error) {
      return std::string(error.what());
    }
    return std::string("no exception");
  };
  TempDir dir;
  const auto a = pattern_bytes(8, 1);
  // No index and not exactly one .safetensors file: none, then two.
  fs::create_directories(dir / "empty");
  EXPECT_NE(message_of(dir / "empty").find("exactly one .safetensors file, found 0"), std::string::npos);
  write_safetensors(dir / "a.safetensors", {{"w", Dtype::f32, {2}, a}});
  write_safetensors(dir / "b.safetensors", {{"v", Dtype::f32, {2}, a}});
  EXPECT_NE(message_of(dir.path()).find("found 2"), std::string::npos) << message_of(dir.path());
  // An index that is not JSON, has no weight_map, or names a shard outside the directory.
  const struct {
    std::string index, expected;
  } cases[] = {{"{\"weight_map\": ", "not valid JSON"},
               {R"({"metadata": {}})", "has no \"weight_map\" object"},
               {R"({"weight_map": {"w": "../a.safetensors"}})", "is not a file in the directory"},
               {R"({"weight_map": {"w": ".."}})", "is not a file in the directory"},
               {R"({"weight_map": {"w": 7}})", "is not a file name"}};
  for (const auto& [index, expected] : cases) {
    std::ofstream(dir / "model.safetensors.index.json") << index;
    const auto message = message_of(dir.path());
    EXPECT_NE(message.find(expected), std::string::npos) << index << ": " << message;
    EXPECT_NE(message.find("model.safetensors.index.json"), std::string::npos) << message;
  }
}

TEST(FloatFormats, DecodesEveryF8E4M3Code) {
  EXPECT_EQ(f8_e4m3_to_float(0x00), 0.0f);
  EXPECT_EQ(f8_e4m3_to_float(0x38), 1.0f);          // e=7, m=0
  EXPECT_EQ(f8_e4m3_to_float(0x7E), 448.0f);        // largest finite
  EXPECT_EQ(f8_e4m3_to_float(0x01), 0.001953125f);  // smallest subnormal, 2^-9
  EXPECT_EQ(f8_e4m3_to_float(0xC0), -2.0f);
  EXPECT_TRUE(std::isnan(f8_e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(f8_e4m3_to_float(0xFF)));
}

TEST(FloatFormats, DecodesF8E5M2AndHalfAndRoundsBfloat16ToNearestEven) {
  EXPECT_EQ(f8_e5m2_to_float(0x3C), 1.0f);
  EXPECT_EQ(f8_e5m2_to_float(0x7B), 57344.0f);
  EXPECT_TRUE(std::isinf(f8_e5m2_to_float(0x7C)));
  EXPECT_EQ(f16_to_float(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_float(float_to_bf16(3.140625f)), 3.140625f);
  // 1 + 2^-8 lies halfway between two bf16 values: ties go to the even one (1.0).
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

class SafetensorsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SafetensorsGolden, EveryGoldenFileReadsWithConsistentEntries) {
  AVTRAIN_REQUIRE_GOLDEN(path, GetParam());
  const auto file = SafetensorsFile::open(path);
  EXPECT_FALSE(file.entries().empty());
  EXPECT_TRUE(file.metadata().count("case")) << "golden files name their case in __metadata__";
  uint64_t covered = 0;
  for (const auto& entry : file.entries()) {
    EXPECT_EQ(entry.nbytes, static_cast<uint64_t>(entry.numel()) * dtype_size(entry.dtype)) << entry.name;
    covered += entry.nbytes;
    (void)file.bytes(entry);
  }
  EXPECT_GT(covered, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllFiles, SafetensorsGolden,
    ::testing::Values("audio_vae_decoder_tiny.safetensors", "audio_vae_encoder_tiny.safetensors",
                      "diffusion_steps.safetensors", "gemma3_text_tiny.safetensors",
                      "gemma3_tokenizer_ids.safetensors", "guider_combination.safetensors",
                      "mel_frontend.safetensors", "reference_positions.safetensors",
                      "scheduler_sigmas.safetensors", "text_connector_tiny.safetensors",
                      "timestep_sampler.safetensors", "transformer_av_guided_step_tiny.safetensors",
                      "transformer_av_tiny.safetensors", "video_vae_decoder_tiny.safetensors",
                      "video_vae_encoder_tiny.safetensors", "vocoder_tiny.safetensors"),
    [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

// A flipped bit in the data block, or data cut short, no longer matches the checksum written with it.
TEST(Safetensors, DamageToTheDataBlockIsFoundByItsChecksum) {
  const TempDir dir;
  const auto bytes = pattern_bytes(64, 7);
  write_safetensors(dir / "a.safetensors", {{"t", Dtype::f32, {16}, bytes}}, {});
  EXPECT_FALSE(SafetensorsFile::open(dir / "a.safetensors").damage());
  {
    std::fstream file(dir / "a.safetensors", std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(-10, std::ios::end);
    file.put('\x7f');
  }
  const auto why = SafetensorsFile::open(dir / "a.safetensors").damage();
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("does not match the checksum"), std::string::npos) << *why;
  EXPECT_NE(why->find((dir / "a.safetensors").string()), std::string::npos) << *why;
}

}  // namespace
}  // namespace avtrain::core
