#pragma once
// The safetensors format, torch-free: a memory-mapped reader with lazy per-tensor access, sharded
// directories (model.safetensors.index.json), and an atomic writer. core/tensor_io.h turns entries
// into LibTorch tensors.
//
// File layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end)}, "__metadata__": {string: string}}, then the data block.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace avtrain::core {

enum class Dtype { bf16, f16, f32, f64, i64, i32, i16, i8, u8, boolean, f8_e4m3, f8_e5m2 };

size_t dtype_size(Dtype dtype);
std::string_view dtype_name(Dtype dtype);  // the format's spelling: "BF16", "F8_E4M3", ...
std::optional<Dtype> parse_dtype(std::string_view name);
bool is_floating(Dtype dtype);

struct TensorEntry {
  std::string name;
  Dtype dtype = Dtype::f32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offset in the data block
  uint64_t nbytes = 0;
  int64_t numel() const;
};

using Metadata = std::map<std::string, std::string>;

// The metadata key under which write_safetensors stores the XXH3-64 of the data block (16 hex digits),
// so that caches and checkpoints of our own find damage before they trust a file (SafetensorsFile::damage).
inline constexpr const char* kDataChecksumKey = "avtrain.data_xxh3";

// Largest header accepted; real checkpoints have headers of a few MB.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

// An open, validated, read-only mapped file. Cheap to copy (the mapping is shared).
class SafetensorsFile {
 public:
  // Maps `path` and validates the whole header; throws core::InvalidInput naming the file and the
  // fault (header length, JSON, dtype, shape x dtype vs byte count, offsets out of range or overlapping).
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  const Metadata& metadata() const;
  const std::vector<TensorEntry>& entries() const;  // sorted by name
  const TensorEntry* find(std::string_view name) const;
  // Throws core::InvalidInput naming the file and the key when absent.
  const TensorEntry& entry(std::string_view name) const;
  // The tensor's bytes inside the mapping (no copy). Valid while any copy of this object lives.
  std::span<const std::byte> bytes(const TensorEntry& entry) const;
  // Why the data block cannot be trusted: its XXH3-64 differs from the one write_safetensors stored in
  // the metadata (kDataChecksumKey) when it wrote the file, e.g. a flipped bit; nullopt when it matches
  // or the file carries none (written elsewhere). Reads the whole data block.
  std::optional<std::string> damage() const;
  // Keeps the mapping alive for views handed out elsewhere (tensor_io's zero-copy tensors).
  std::shared_ptr<const void> keep_alive() const;

 private:
  struct Mapping;
  std::shared_ptr<const Mapping> mapping_;
};

// Several files seen as one: a single file, or a sharded directory with model.safetensors.index.json.
class SafetensorsSet {
 public:
  static SafetensorsSet open_file(const std::filesystem::path& path);
  // A directory holding model.safetensors.index.json (its weight_map names the shard of each tensor),
  // or, without an index, exactly one *.safetensors file.
  static SafetensorsSet open_directory(const std::filesystem::path& directory);
  // A file or a directory, whichever `path` is.
  static SafetensorsSet open(const std::filesystem::path& path);

  struct Located {
    const SafetensorsFile* file;
    const TensorEntry* entry;
  };
  std::optional<Located> find(std::string_view name) const;
  Located at(std::string_view name) const;  // throws naming the key and where it was looked for
  std::vector<std::string> names() const;   // sorted
  const std::vector<SafetensorsFile>& files() const { return files_; }
  const Metadata& metadata() const;  // the first file's
  std::string description() const;   // the path for messages

 private:
  std::filesystem::path root_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::pair<size_t, const TensorEntry*>, std::less<>> index_;
};

// A tensor to write: raw bytes in the given dtype and shape (row-major, little-endian).
struct TensorToWrite {
  std::string name;
  Dtype dtype = Dtype::f32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

// Writes `path` atomically (temporary file in the same folder, fsync, rename). Data is laid out
// contiguously in name order (the format allows no holes); the header is space-padded so the data
// block starts 8-byte aligned.
// Throws core::InvalidInput on duplicate names or byte counts that do not match shape x dtype.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const Metadata& metadata = {});

}  // namespace avtrain::core
