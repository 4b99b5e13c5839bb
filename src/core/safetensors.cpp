#include "core/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <set>

#include "core/error.h"
#include "core/json_text.h"

namespace avtrain::core {
namespace fs = std::filesystem;
namespace {

struct DtypeInfo {
  Dtype dtype;
  std::string_view name;
  size_t size;
  bool floating;
};

constexpr DtypeInfo kDtypes[] = {
    {Dtype::bf16, "BF16", 2, true},       {Dtype::f16, "F16", 2, true},
    {Dtype::f32, "F32", 4, true},         {Dtype::f64, "F64", 8, true},
    {Dtype::i64, "I64", 8, false},        {Dtype::i32, "I32", 4, false},
    {Dtype::i16, "I16", 2, false},        {Dtype::i8, "I8", 1, false},
    {Dtype::u8, "U8", 1, false},          {Dtype::boolean, "BOOL", 1, false},
    {Dtype::f8_e4m3, "F8_E4M3", 1, true}, {Dtype::f8_e5m2, "F8_E5M2", 1, true},
};

const DtypeInfo& info_of(Dtype dtype) {
  for (const auto& each : kDtypes)
    if (each.dtype == dtype) return each;
  throw InternalError("unknown safetensors dtype");
}

[[noreturn]] void refuse(const fs::path& path, const std::string& what) {
  throw InvalidInput(fmt::format("{}: not a valid safetensors file: {}", path.string(), what));
}

// Closes a file descriptor on scope exit.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

size_t dtype_size(Dtype dtype) { return info_of(dtype).size; }
std::string_view dtype_name(Dtype dtype) { return info_of(dtype).name; }
bool is_floating(Dtype dtype) { return info_of(dtype).floating; }

std::optional<Dtype> parse_dtype(std::string_view name) {
  for (const auto& each : kDtypes)
    if (each.name == name) return each.dtype;
  return std::nullopt;
}

int64_t TensorEntry::numel() const {
  int64_t count = 1;
  for (const auto dim : shape) count *= dim;
  return count;
}

struct SafetensorsFile::Mapping {
  fs::path path;
  const std::byte* base = nullptr;  // whole file
  size_t size = 0;
  const std::byte* data = nullptr;  // data block
  size_t data_size = 0;
  Metadata metadata;
  std::vector<TensorEntry> entries;

  ~Mapping() {
    if (base) ::munmap(const_cast<std::byte*>(base), size);
  }
};

SafetensorsFile SafetensorsFile::open(const fs::path& path) {
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    throw InvalidInput(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  }
  struct stat status {};
  if (::fstat(file.fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    throw InvalidInput(fmt::format("{}: not a regular file", path.string()));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->path = path;
  mapping->size = static_cast<size_t>(status.st_size);
  if (mapping->size < 8)
    refuse(path, fmt::format("the file has {} bytes, fewer than the 8-byte header length", mapping->size));
  // Private and writable: in-place operations on zero-copy tensors never reach the file.
  void* address = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd, 0);
  if (address == MAP_FAILED) {
    throw InvalidInput(
        fmt::format("{}: cannot map {} bytes: {}", path.string(), mapping->size, std::strerror(errno)));
  }
  mapping->base = static_cast<const std::byte*>(address);

  uint64_t header_length = 0;
  std::memcpy(&header_length, mapping->base, 8);  // little-endian on every supported host
  if (header_length == 0 || header_length > kMaxSafetensorsHeaderBytes) {
    refuse(path, fmt::format("header length {} is outside 1..{} bytes (truncated or not safetensors?)",
                             header_length, kMaxSafetensorsHeaderBytes));
  }
  if (header_length > mapping->size - 8) {
    refuse(path, fmt::format("header length {} runs past the end of the {}-byte file (truncated?)",
                             header_length, mapping->size));
  }
  mapping->data = mapping->base + 8 + header_length;
  mapping->data_size = mapping->size - 8 - header_length;

  const auto* header_begin = reinterpret_cast<const char*>(mapping->base + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_length);
  } catch (const nlohmann::json::exception& error) {
    refuse(path, fmt::format("header is not valid JSON ({})", json_failure_text(error)));
  }
  if (!header.is_object()) refuse(path, "header is not a JSON object");

  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) refuse(path, "__metadata__ is not an object of strings");
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string()) refuse(path, fmt::format("__metadata__ entry '{}' is not a string", key));
        mapping->metadata.emplace(key, text.get<std::string>());
      }
      continue;
    }
    const auto where = fmt::format("tensor '{}'", name);
    if (!value.is_object()) refuse(path, where + " is not an object");
    const auto dtype_field = value.find("dtype");
    const auto shape_field = value.find("shape");
    const auto offsets_field = value.find("data_offsets");
    if (dtype_field == value.end() || !dtype_field->is_string()) refuse(path, where + " has no dtype string");
    if (shape_field == value.end() || !shape_field->is_array()) refuse(path, where + " has no shape array");
    if (offsets_field == value.end() || !offsets_field->is_array() || offsets_field->size() != 2) {
      refuse(path, where + " has no data_offsets [begin, end]");
    }
    const auto dtype = parse_dtype(dtype_field->get<std::string>());
    if (!dtype)
      refuse(path, fmt::format("{} has unsupported dtype '{}'", where, dtype_field->get<std::string>()));

    TensorEntry entry;
    entry.name = name;
    entry.dtype = *dtype;
    uint64_t expected_bytes = dtype_size(*dtype);
    for (const auto& dim : *shape_field) {
      if (!dim.is_number_unsigned())
        refuse(path, where + " has a shape entry that is not a non-negative integer");
      const auto extent = dim.get<uint64_t>();
      if (extent > 0 && expected_bytes > std::numeric_limits<uint64_t>::max() / extent) {
        refuse(path, where + " has a shape whose byte count overflows");
      }
      expected_bytes *= extent;
      entry.shape.push_back(static_cast<int64_t>(extent));
    }
    for (const auto& offset : *offsets_field) {
      if (!offset.is_number_unsigned())
        refuse(path, where + " has data_offsets that are not non-negative integers");
    }
    const auto begin = (*offsets_field)[0].get<uint64_t>();
    const auto end = (*offsets_field)[1].get<uint64_t>();
    if (end < begin)
      refuse(path, fmt::format("{} has data_offsets [{}, {}] with end before begin", where, begin, end));
    if (end > mapping->data_size) {
      refuse(path, fmt::format("{} has data_offsets [{}, {}] past the {}-byte data block (truncated?)", where,
                               begin, end, mapping->data_size));
    }
    if (end - begin != expected_bytes) {
      refuse(path, fmt::format("{} holds {} bytes but shape {} of {} needs {}", where, end - begin,
                               nlohmann::json(entry.shape).dump(), dtype_name(*dtype), expected_bytes));
    }
    entry.begin = begin;
    entry.nbytes = end - begin;
    mapping->entries.push_back(std::move(entry));
  }

  std::vector<const TensorEntry*> by_offset;
  for (const auto& entry : mapping->entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* previous = by_offset[i - 1];
    if (by_offset[i]->begin < previous->begin + previous->nbytes) {
      refuse(path, fmt::format("tensors '{}' and '{}' overlap in the data block", previous->name,
                               by_offset[i]->name));
    }
  }
  std::sort(mapping->entries.begin(), mapping->entries.end(),
            [](auto& a, auto& b) { return a.name < b.name; });

  SafetensorsFile result;
  result.mapping_ = std::move(mapping);
  return result;
}

const fs::path& SafetensorsFile::path() const { return mapping_->path; }
const Metadata& SafetensorsFile::metadata() const { return mapping_->metadata; }
const std::vector<TensorEntry>& SafetensorsFile::entries() const { return mapping_->entries; }

const TensorEntry* SafetensorsFile::find(std::string_view name) const {
  const auto& entries = mapping_->entries;
  const auto it =
      std::lower_bound(entries.begin(), entries.end(), name,
                       [](const TensorEntry& entry, std::string_view key) { return entry.name < key; });
  return it != entries.end() && it->name == name ? &*it : nullptr;
}

const TensorEntry& SafetensorsFile::entry(std::string_view name) const {
  if (const auto* found = find(name)) return *found;
  throw InvalidInput(fmt::format("{}: has no tensor '{}'", path().string(), name));
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorEntry& entry) const {
  return {mapping_->data + entry.begin, entry.nbytes};
}

std::shared_ptr<const void> SafetensorsFile::keep_alive() const { return mapping_; }

std::optional<std::string> SafetensorsFile::damage() const {
  const auto stored = mapping_->metadata.find(kDataChecksumKey);
  if (stored == mapping_->metadata.end()) return std::nullopt;
  const std::string actual = fmt::format("{:016x}", XXH3_64bits(mapping_->data, mapping_->data_size));
  if (actual == stored->second) return std::nullopt;
  return fmt::format("{}: its data does not match the checksum written with it (truncated or changed since)",
                     mapping_->path.string());
}

SafetensorsSet SafetensorsSet::open_file(const fs::path& path) {
  SafetensorsSet set;
  set.root_ = path;
  set.files_.push_back(SafetensorsFile::open(path));
  for (const auto& entry : set.files_[0].entries())
    set.index_.emplace(entry.name, std::pair{size_t{0}, &entry});
  return set;
}

SafetensorsSet SafetensorsSet::open_directory(const fs::path& directory) {
  const auto index_path = directory / "model.safetensors.index.json";
  if (!fs::exists(index_path)) {
    std::vector<fs::path> candidates;
    if (fs::is_directory(directory)) {
      for (const auto& item : fs::directory_iterator(directory))
        if (item.path().extension() == ".safetensors") candidates.push_back(item.path());
    }
    if (candidates.size() != 1) {
      throw InvalidInput(
          fmt::format("{}: expected model.safetensors.index.json or exactly one .safetensors file, found {}",
                      directory.string(), candidates.size()));
    }
    auto set = open_file(candidates[0]);
    set.root_ = directory;
    return set;
  }
  nlohmann::json index;
  try {
    std::ifstream stream(index_path);
    index = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& error) {
    throw InvalidInput(fmt::format("{}: not valid JSON ({})", index_path.string(), error.what()));
  }
  const auto weight_map = index.find("weight_map");
  if (weight_map == index.end() || !weight_map->is_object()) {
    throw InvalidInput(fmt::format("{}: has no \"weight_map\" object", index_path.string()));
  }
  SafetensorsSet set;
  set.root_ = directory;
  std::map<std::string, size_t> shard_of_file;
  for (const auto& [name, shard] : weight_map->items()) {
    if (!shard.is_string())
      throw InvalidInput(fmt::format("{}: weight_map['{}'] is not a file name", index_path.string(), name));
    const auto file_name = shard.get<std::string>();
    if (file_name.find('/') != std::string::npos || file_name == "..") {
      throw InvalidInput(fmt::format("{}: weight_map['{}'] = '{}' is not a file in the directory",
                                     index_path.string(), name, file_name));
    }
    auto [it, inserted] = shard_of_file.emplace(file_name, set.files_.size());
    if (inserted) set.files_.push_back(SafetensorsFile::open(directory / file_name));
    const auto& file = set.files_[it->second];
    const auto* entry = file.find(name);
    if (!entry) {
      throw InvalidInput(fmt::format("{}: names '{}' in shard {}, which does not hold it",
                                     index_path.string(), name, file_name));
    }
    set.index_.emplace(name, std::pair{it->second, entry});
  }
  return set;
}

SafetensorsSet SafetensorsSet::open(const fs::path& path) {
  return fs::is_directory(path) ? open_directory(path) : open_file(path);
}

std::optional<SafetensorsSet::Located> SafetensorsSet::find(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return Located{&files_[it->second.first], it->second.second};
}

SafetensorsSet::Located SafetensorsSet::at(std::string_view name) const {
  if (auto found = find(name)) return *found;
  throw InvalidInput(fmt::format("{}: has no tensor '{}'", root_.string(), name));
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> result;
  result.reserve(index_.size());
  for (const auto& [name, location] : index_) result.push_back(name);
  return result;
}

const Metadata& SafetensorsSet::metadata() const {
  static const Metadata kEmpty;
  return files_.empty() ? kEmpty : files_.front().metadata();
}

std::string SafetensorsSet::description() const { return root_.string(); }

void write_safetensors(const fs::path& path, const std::vector<TensorToWrite>& tensors,
                       const Metadata& metadata) {
  std::vector<const TensorToWrite*> ordered;
  for (const auto& tensor : tensors) ordered.push_back(&tensor);
  std::sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->name < b->name; });

  // The data block is the tensors in this order; its checksum goes into the metadata.
  XXH3_state_t* const checksum = XXH3_createState();
  XXH3_64bits_reset(checksum);
  for (const auto* tensor : ordered) XXH3_64bits_update(checksum, tensor->data.data(), tensor->data.size());
  Metadata with_checksum = metadata;
  with_checksum[kDataChecksumKey] = fmt::format("{:016x}", XXH3_64bits_digest(checksum));
  XXH3_freeState(checksum);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = with_checksum;
  uint64_t offset = 0;
  std::set<std::string_view> seen;
  for (const auto* tensor : ordered) {
    if (tensor->name == "__metadata__" || !seen.insert(tensor->name).second) {
      throw InvalidInput(
          fmt::format("{}: tensor name '{}' is used twice or reserved", path.string(), tensor->name));
    }
    uint64_t expected = dtype_size(tensor->dtype);
    for (const auto dim : tensor->shape) expected *= static_cast<uint64_t>(dim);
    if (expected != tensor->data.size()) {
      throw InvalidInput(fmt::format("{}: tensor '{}' has {} bytes, its shape and dtype need {}",
                                     path.string(), tensor->name, tensor->data.size(), expected));
    }
    header[tensor->name] = {{"dtype", dtype_name(tensor->dtype)},
                            {"shape", tensor->shape},
                            {"data_offsets", {offset, offset + expected}}};
    offset += expected;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  const auto temporary = fs::path(path.string() + ".tmp");
  {
    FileDescriptor file{::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (file.fd < 0) {
      throw InvalidInput(fmt::format("{}: cannot create: {}", temporary.string(), std::strerror(errno)));
    }
    auto write_all = [&](const void* data, size_t size) {
      const auto* cursor = static_cast<const char*>(data);
      while (size > 0) {
        const auto written = ::write(file.fd, cursor, size);
        if (written < 0) {
          if (errno == EINTR) continue;
          throw InternalError(fmt::format("{}: write failed: {}", temporary.string(), std::strerror(errno)));
        }
        cursor += written;
        size -= static_cast<size_t>(written);
      }
    };
    const uint64_t header_length = header_text.size();
    write_all(&header_length, 8);
    write_all(header_text.data(), header_text.size());
    for (const auto* tensor : ordered) write_all(tensor->data.data(), tensor->data.size());
    if (::fsync(file.fd) != 0) {
      throw InternalError(fmt::format("{}: fsync failed: {}", temporary.string(), std::strerror(errno)));
    }
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error)
    throw InternalError(fmt::format("{}: cannot rename into place: {}", path.string(), error.message()));
}

}  // namespace avtrain::core
