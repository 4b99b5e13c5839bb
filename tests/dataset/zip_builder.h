#pragma once
// Builds zip archives in the dataset tests with libzip, including the hostile ones (traversal,
// absolute paths, symlinks, bombs) that ordinary tools refuse to write.

#include <sys/stat.h>
#include <zip.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace avtrain::dataset::testing {

class ZipBuilder {
 public:
  // A regular file; `store` skips compression.
  ZipBuilder& file(const std::string& name, std::string bytes, bool store = false) {
    entries_.push_back({name, std::move(bytes), Kind::file, store});
    return *this;
  }
  ZipBuilder& symlink(const std::string& name, std::string target) {
    entries_.push_back({name, std::move(target), Kind::symlink, true});
    return *this;
  }
  ZipBuilder& folder(const std::string& name) {
    entries_.push_back({name, {}, Kind::folder, true});
    return *this;
  }
  // A named pipe (a Unix special file), as `zip --fifo` could store one.
  ZipBuilder& fifo(const std::string& name) {
    entries_.push_back({name, {}, Kind::fifo, true});
    return *this;
  }
  // A file encrypted with traditional PKWARE encryption under `password`.
  ZipBuilder& encrypted(const std::string& name, std::string bytes, const std::string& password) {
    entries_.push_back({name, std::move(bytes), Kind::file, false, password});
    return *this;
  }
  void write(const std::filesystem::path& path) const {
    int error = 0;
    zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
    if (!zip) throw std::runtime_error("zip_open failed for " + path.string());
    for (const auto& entry : entries_) {
      zip_int64_t index = -1;
      if (entry.kind == Kind::folder) {
        index = zip_dir_add(zip, entry.name.c_str(), ZIP_FL_ENC_UTF_8);
      } else {
        zip_source_t* source = zip_source_buffer(zip, entry.bytes.data(), entry.bytes.size(), 0);
        // ZIP_FL_ENC_RAW keeps names such as "../x" and "/abs" exactly as given.
        index = zip_file_add(zip, entry.name.c_str(), source, ZIP_FL_ENC_RAW);
        if (index < 0) zip_source_free(source);
      }
      if (index < 0) throw std::runtime_error("cannot add " + entry.name + ": " + zip_strerror(zip));
      if (entry.store) zip_set_file_compression(zip, index, ZIP_CM_STORE, 0);
      if (entry.kind == Kind::symlink) {
        zip_file_set_external_attributes(zip, index, 0, ZIP_OPSYS_UNIX, (S_IFLNK | 0777u) << 16);
      }
      if (entry.kind == Kind::fifo) {
        zip_file_set_external_attributes(zip, index, 0, ZIP_OPSYS_UNIX, (S_IFIFO | 0644u) << 16);
      }
      if (!entry.password.empty() &&
          zip_file_set_encryption(zip, index, ZIP_EM_TRAD_PKWARE, entry.password.c_str()) != 0) {
        throw std::runtime_error("cannot encrypt " + entry.name + ": " + zip_strerror(zip));
      }
    }
    if (zip_close(zip) != 0) throw std::runtime_error("zip_close failed for " + path.string());
  }

 private:
  enum class Kind { file, symlink, folder, fifo };
  struct Entry {
    std::string name, bytes;
    Kind kind;
    bool store;
    std::string password = {};
  };
  std::deque<Entry> entries_;
};

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace avtrain::dataset::testing
