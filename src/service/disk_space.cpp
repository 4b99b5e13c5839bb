#include "service/disk_space.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

#include "core/byte_text.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "models/checkpoint.h"
#include "service/request/config_file.h"

namespace avtrain::service {

namespace fs = std::filesystem;

uint64_t free_disk_bytes(const fs::path& folder) {
  fs::path existing = fs::absolute(folder);
  while (!fs::exists(existing) && existing.has_parent_path() && existing != existing.parent_path()) {
    existing = existing.parent_path();
  }
  struct statvfs info {};
  if (::statvfs(existing.c_str(), &info) != 0) return UINT64_MAX;  // unknown: do not refuse for it
  return static_cast<uint64_t>(info.f_bavail) * static_cast<uint64_t>(info.f_frsize);
}

std::optional<std::string> space_problem(const fs::path& folder, uint64_t needed, std::string_view for_what) {
  const uint64_t free = free_disk_bytes(folder);
  if (free >= needed) return std::nullopt;
  return fmt::format(
      "not enough disk space for {}: it needs {}, {} are free. Free space on the server (or use "
      "a smaller archive), then run the job again",
      for_what, core::byte_text(needed), core::byte_text(free));
}

void require_free_space(const fs::path& folder, uint64_t needed, std::string_view for_what) {
  if (auto problem = space_problem(folder, needed, for_what)) throw core::InternalError(std::move(*problem));
}

bool is_out_of_space(std::string_view message) {
  return message.find(std::strerror(ENOSPC)) != std::string_view::npos ||
         message.find(std::strerror(EFBIG)) != std::string_view::npos ||
         message.find("disk full") != std::string_view::npos;
}

std::string out_of_space_message(const fs::path& folder, std::string_view stage) {
  return fmt::format(
      "the disk ran out of space during {} ({} free): free space, then run the job again; it "
      "resumes from its last finished stage and checkpoint",
      stage, core::byte_text(free_disk_bytes(folder)));
}

uint64_t job_working_bytes(const TrainingShape& shape, int64_t pairs, int64_t rank,
                           const models::ModelFiles& files) {
  // Pair tensors: reference and target RGB8, stereo float audio at up to 48 kHz.
  const uint64_t clip = static_cast<uint64_t>(shape.width) * shape.height * shape.frames * 3;
  const uint64_t audio = static_cast<uint64_t>(2 * 48000 * 4 * (shape.frames / shape.frame_rate + 1));
  const uint64_t tensors = static_cast<uint64_t>(pairs) * 2 * (clip + audio);
  // Checkpoints: rank * (in + out) parameters for each adapted linear of the transformer blocks.
  uint64_t lora_parameters = 0;
  try {
    const auto checkpoint = core::SafetensorsSet::open(files.checkpoint);
    for (const auto& file : checkpoint.files()) {
      for (const auto& entry : file.entries()) {
        const bool adapted =
            entry.name.find("transformer_blocks.") != std::string::npos &&
            (entry.name.ends_with(".to_q.weight") || entry.name.ends_with(".to_k.weight") ||
             entry.name.ends_with(".to_v.weight") || entry.name.ends_with(".to_out.0.weight"));
        if (adapted && entry.shape.size() == 2) {
          lora_parameters +=
              static_cast<uint64_t>(rank) * static_cast<uint64_t>(entry.shape[0] + entry.shape[1]);
        }
      }
    }
  } catch (const core::Error&) {
    // The checkpoint is checked where it is loaded; the estimate goes without it.
  }
  constexpr uint64_t kCheckpointBytesPerParameter = 4 + 4 + 4 + 2;  // master, two moments, bf16 LoRA
  constexpr uint64_t kCheckpointsOnDisk = 3 + 1;                    // the last 3 kept, one being written
  return tensors + lora_parameters * kCheckpointBytesPerParameter * kCheckpointsOnDisk;
}

}  // namespace avtrain::service
