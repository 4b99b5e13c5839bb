// The training archive (dataset/archive.h, dataset/pairs.h) from any bytes: the zip directory, entry
// names (unsafe paths, hidden files, caps), extraction and pair matching. Nothing is ever written
// outside the destination folder.
#include <filesystem>

#include "dataset/archive.h"
#include "dataset/pairs.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  namespace fs = std::filesystem;
  const fuzz::InputFile input(data, size);
  const fs::path destination = fuzz::scratch_dir() / "extracted";
  std::error_code ignored;
  fs::remove_all(fuzz::scratch_dir(), ignored);
  fs::create_directories(fuzz::scratch_dir());
  dataset::ArchiveLimits limits;
  limits.max_total_bytes = uint64_t{64} << 20;  // the target's own budget; the caps are what is tested
  limits.ratio_floor_bytes = uint64_t{1} << 20;
  try {
    const auto archive = dataset::extract_archive(input.path(), destination, "clips.zip", limits);
    for (const auto& file : archive.files) {
      const auto relative = file.path.lexically_relative(destination);
      if (relative.empty() || *relative.begin() == "..") std::abort();  // written outside the folder
    }
    (void)dataset::match_pairs(archive.files, "clips.zip");
  } catch (const core::Error& error) {
    fuzz::check_refusal(error);
  }
  // Nothing may have appeared beside the destination.
  for (const auto& entry : fs::directory_iterator(fuzz::scratch_dir())) {
    if (entry.path() != destination) std::abort();
  }
  return 0;
}
