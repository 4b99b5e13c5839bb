#include "dataset/archive.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <system_error>

#include "core/byte_text.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/utf8.h"
#include "dataset/pairs.h"
#include "dataset/zip_handle.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;

struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileCloser>;
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

core::Problem entry_problem(const std::string& entry, std::string msg) {
  return {{"body", "training_data_url", entry}, std::move(msg), "value_error"};
}
core::Problem archive_problem(std::string msg) {
  return {{"body", "training_data_url"}, std::move(msg), "value_error"};
}

// The entry's path components with '\' read as a separator too (Windows tools write it) and
// empty and "." components dropped.
std::vector<std::string> components_of(const std::string& name) {
  std::vector<std::string> components;
  std::string current;
  for (const char c : name) {
    if (c == '/' || c == '\\') {
      if (!current.empty() && current != ".") components.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty() && current != ".") components.push_back(current);
  return components;
}

std::string joined(const std::vector<std::string>& components) {
  std::string path;
  for (const auto& component : components) path += (path.empty() ? "" : "/") + component;
  return path;
}

bool is_absolute_name(const std::string& name) {
  if (name.starts_with('/') || name.starts_with('\\')) return true;
  return name.size() >= 2 && name[1] == ':' && std::isalpha(static_cast<unsigned char>(name[0]));  // "C:"
}

// A kept file entry, checked and ready to extract.
struct PlannedEntry {
  zip_uint64_t index = 0;
  std::string path;  // normalized
  uint64_t size = 0;
};

void extract_entry(zip_t* zip, const PlannedEntry& entry, const fs::path& target,
                   const std::string& archive_name) {
  ZipFilePtr source(zip_fopen_index(zip, entry.index, 0));
  if (!source) {
    throw core::DatasetRejected(
        {entry_problem(entry.path, fmt::format("{}: cannot read the entry {} ({}); re-create the archive",
                                               archive_name, entry.path, zip_strerror(zip)))});
  }
  fs::create_directories(target.parent_path());
  // "x": never follow or overwrite anything already at the target.
  FilePtr out(std::fopen(target.c_str(), "wbx"));
  if (!out) {
    throw core::InternalError(fmt::format("cannot create {} while extracting {}: {}", target.string(),
                                          archive_name,
                                          std::error_code(errno, std::generic_category()).message()));
  }
  std::vector<char> buffer(1 << 20);
  uint64_t written = 0;
  for (;;) {
    const zip_int64_t got = zip_fread(source.get(), buffer.data(), buffer.size());
    if (got < 0) {
      throw core::DatasetRejected({entry_problem(
          entry.path, fmt::format("{}: the entry {} is corrupt ({}); re-create the archive", archive_name,
                                  entry.path, zip_file_strerror(source.get())))});
    }
    if (got == 0) break;
    written += static_cast<uint64_t>(got);
    if (written > entry.size) {  // the data inflates beyond what the directory declared
      throw core::DatasetRejected({entry_problem(
          entry.path,
          fmt::format("{}: the entry {} holds more data than its declared {}; the archive is damaged "
                      "or crafted, re-create it",
                      archive_name, entry.path, core::byte_text(entry.size)))});
    }
    if (std::fwrite(buffer.data(), 1, static_cast<size_t>(got), out.get()) != static_cast<size_t>(got)) {
      throw core::InternalError(
          fmt::format("cannot write {} while extracting {} (disk full?)", target.string(), archive_name));
    }
  }
  if (std::fclose(out.release()) != 0) {
    throw core::InternalError(
        fmt::format("cannot write {} while extracting {} (disk full?)", target.string(), archive_name));
  }
}

}  // namespace

std::string in_archive_terms(std::string message, const ExtractedFile& file) {
  const std::string extracted = file.path.string();
  if (extracted.empty()) return message;
  for (auto pos = message.find(extracted); pos != std::string::npos; pos = message.find(extracted, pos)) {
    message.replace(pos, extracted.size(), file.archive_path);
    pos += file.archive_path.size();
  }
  return message;
}

bool is_ignored_entry(const std::string& archive_path) {
  for (const auto& component : components_of(archive_path)) {
    if (component == "__MACOSX" || component.starts_with('.')) return true;
  }
  return false;
}

namespace {

// The archive opened for reading; core::DatasetRejected when it is not a readable zip.
ZipPtr open_archive(const fs::path& archive, const std::string& archive_name) {
  int open_error = 0;
  ZipPtr zip(zip_open(archive.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &open_error));
  if (!zip) {
    zip_error_t error;
    zip_error_init_with_code(&error, open_error);
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    if (open_error == ZIP_ER_NOZIP || open_error == ZIP_ER_INCONS) {
      throw core::DatasetRejected({archive_problem(fmt::format(
          "{} is not a readable zip archive ({}): training_data_url must name a .zip file of clip pairs",
          archive_name, reason))});
    }
    throw core::DatasetRejected(
        {archive_problem(fmt::format("cannot open {} as a zip archive: {}", archive_name, reason))});
  }
  return zip;
}

}  // namespace

ArchiveContents archive_contents(const fs::path& archive, const std::string& archive_name) {
  const ZipPtr zip = open_archive(archive, archive_name);
  ArchiveContents contents;
  const zip_int64_t entry_count = zip_get_num_entries(zip.get(), 0);
  for (zip_int64_t index = 0; index < entry_count; ++index) {
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(zip.get(), static_cast<zip_uint64_t>(index), 0, &stat) != 0 ||
        !(stat.valid & ZIP_STAT_SIZE)) {
      continue;
    }
    const std::string name = stat.name ? stat.name : "";
    if (name.empty() || name.ends_with('/') || is_ignored_entry(name)) continue;
    contents.bytes += stat.size;
    const auto dot = name.rfind('.');
    if (dot != std::string::npos && is_video_extension(name.substr(dot))) ++contents.clips;
  }
  return contents;
}

ExtractedArchive extract_archive(const fs::path& archive, const fs::path& destination,
                                 const std::string& archive_name, const ArchiveLimits& limits,
                                 core::Progress* progress) {
  auto& log = core::logger("dataset");
  const ZipPtr zip = open_archive(archive, archive_name);
  const zip_int64_t entry_count = zip_get_num_entries(zip.get(), 0);
  if (entry_count <= 0) {
    throw core::DatasetRejected(
        {archive_problem(fmt::format("{} is empty: it needs clip pairs <name>_start.<ext> and "
                                     "<name>_end.<ext> (with optional <name>.txt captions)",
                                     archive_name))});
  }
  if (entry_count > limits.max_entries) {
    throw core::DatasetRejected(
        {archive_problem(fmt::format("{} holds {} entries, more than the limit of {}: send fewer files",
                                     archive_name, entry_count, limits.max_entries))});
  }

  // Pass 1: check every entry; nothing is written unless all are acceptable.
  std::vector<core::Problem> problems;
  std::vector<PlannedEntry> planned;
  ExtractedArchive result;
  result.entry_count = entry_count;
  std::map<std::string, std::string> seen;  // normalized path -> original name
  uint64_t total_bytes = 0;
  for (zip_int64_t index = 0; index < entry_count; ++index) {
    const char* raw_name = zip_get_name(zip.get(), static_cast<zip_uint64_t>(index), ZIP_FL_ENC_GUESS);
    if (!raw_name) {
      problems.push_back(
          archive_problem(fmt::format("{}: entry #{} has an unreadable name ({}); re-create the archive",
                                      archive_name, index, zip_strerror(zip.get()))));
      continue;
    }
    const std::string name = raw_name;
    if (const auto why = core::text_problem(name)) {
      problems.push_back(entry_problem(
          name, fmt::format("{}: the name of entry #{} {}; rename the file to plain UTF-8 text and re-create "
                            "the archive",
                            archive_name, index, *why)));
      continue;
    }
    const auto components = components_of(name);
    if (is_absolute_name(name)) {
      problems.push_back(entry_problem(
          name,
          fmt::format("{}: the entry {} has an absolute path; an archive must hold relative paths only. "
                      "Re-create it from inside the folder of clips",
                      archive_name, name)));
      continue;
    }
    if (std::find(components.begin(), components.end(), "..") != components.end()) {
      problems.push_back(entry_problem(
          name, fmt::format("{}: the entry {} has a '..' component, which would write outside the extraction "
                            "folder; re-create the archive without it",
                            archive_name, name)));
      continue;
    }
    if (components.empty()) continue;  // "./" or "/": the root itself
    const std::string path = joined(components);
    if (is_ignored_entry(path)) {
      result.ignored.push_back(name);
      continue;
    }
    zip_uint8_t opsys = 0;
    zip_uint32_t attributes = 0;
    zip_file_get_external_attributes(zip.get(), static_cast<zip_uint64_t>(index), 0, &opsys, &attributes);
    const mode_t mode = opsys == ZIP_OPSYS_UNIX ? static_cast<mode_t>(attributes >> 16) : 0;
    const mode_t type = mode & S_IFMT;
    const bool directory = name.ends_with('/') || name.ends_with('\\') || type == S_IFDIR;
    if (type == S_IFLNK) {
      problems.push_back(entry_problem(
          name,
          fmt::format("{}: the entry {} is a symbolic link; avtrain extracts regular files only. Put the "
                      "file itself in the archive (zip without --symlinks)",
                      archive_name, name)));
      continue;
    }
    if (type != 0 && type != S_IFREG && type != S_IFDIR) {
      problems.push_back(entry_problem(
          name,
          fmt::format("{}: the entry {} is a special file (mode {:o}); avtrain extracts regular files only",
                      archive_name, name, mode)));
      continue;
    }
    if (directory) continue;  // folders are created as their files need them
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(zip.get(), static_cast<zip_uint64_t>(index), 0, &stat) != 0) {
      problems.push_back(
          entry_problem(name, fmt::format("{}: cannot read the entry {} ({}); re-create the archive",
                                          archive_name, name, zip_strerror(zip.get()))));
      continue;
    }
    if ((stat.valid & ZIP_STAT_ENCRYPTION_METHOD) && stat.encryption_method != ZIP_EM_NONE) {
      problems.push_back(
          entry_problem(name, fmt::format("{}: the entry {} is encrypted; send an archive without a password",
                                          archive_name, name)));
      continue;
    }
    if (const auto [it, inserted] = seen.emplace(path, name); !inserted) {
      problems.push_back(
          entry_problem(name, fmt::format("{}: the entry {} appears twice (also as {}); keep one",
                                          archive_name, name, it->second)));
      continue;
    }
    const uint64_t size = stat.size;
    const uint64_t compressed = stat.comp_size;
    if (size > limits.ratio_floor_bytes &&
        static_cast<double>(size) > limits.max_ratio * static_cast<double>(compressed)) {
      problems.push_back(entry_problem(
          name,
          fmt::format("{}: the entry {} expands from {} to {} (ratio {:.0f}:1), beyond the limit of {:.0f}:1 "
                      "for entries over {}: it looks like a zip bomb. Re-create the archive with ordinary "
                      "compression",
                      archive_name, name, core::byte_text(compressed), core::byte_text(size),
                      compressed == 0 ? static_cast<double>(size) : static_cast<double>(size) / compressed,
                      limits.max_ratio, core::byte_text(limits.ratio_floor_bytes))));
      continue;
    }
    total_bytes += size;
    planned.push_back({static_cast<zip_uint64_t>(index), path, size});
  }
  // A path that names a file and also holds files (in either order) cannot be extracted as both.
  std::set<std::string> folders;
  for (const auto& entry : planned) {
    for (size_t slash = entry.path.find('/'); slash != std::string::npos;
         slash = entry.path.find('/', slash + 1))
      folders.insert(entry.path.substr(0, slash));
  }
  for (const auto& entry : planned) {
    if (folders.contains(entry.path)) {
      problems.push_back(entry_problem(
          entry.path, fmt::format("{}: {} is both a file and a folder in the archive; rename one of them",
                                  archive_name, entry.path)));
    }
  }
  if (total_bytes > limits.max_total_bytes) {
    problems.push_back(archive_problem(fmt::format(
        "{}: its files hold {} uncompressed, more than the limit of {}: send fewer or shorter clips",
        archive_name, core::byte_text(total_bytes), core::byte_text(limits.max_total_bytes))));
  }
  if (!problems.empty()) throw core::DatasetRejected(std::move(problems));

  // Pass 2: extract. Paths are relative with no ".." and no links exist in the tree, so every
  // target lies inside `destination`.
  fs::create_directories(destination);
  uint64_t done_bytes = 0;
  for (const auto& entry : planned) {
    if (progress) progress->throw_if_cancelled();
    const fs::path target = destination / fs::path(entry.path);
    try {
      extract_entry(zip.get(), entry, target, archive_name);
    } catch (const fs::filesystem_error& error) {
      throw core::DatasetRejected({entry_problem(
          entry.path,
          fmt::format("{}: cannot extract the entry {} ({}); a file and a folder of the same name?",
                      archive_name, entry.path, error.code().message()))});
    }
    result.files.push_back({entry.path, target, entry.size});
    done_bytes += entry.size;
    if (progress && total_bytes > 0) {
      progress->update(static_cast<double>(done_bytes) / static_cast<double>(total_bytes),
                       fmt::format("{} of {}", core::byte_text(done_bytes), core::byte_text(total_bytes)));
    }
  }
  log.info("{}: extracted {} files ({}), ignored {} metadata or hidden entries", archive_name,
           result.files.size(), core::byte_text(total_bytes), result.ignored.size());
  for (const auto& ignored : result.ignored) log.debug("{}: ignored {}", archive_name, ignored);
  return result;
}

}  // namespace avtrain::dataset
