#pragma once
// Disk space for a job (issue 25): checked before the archive is downloaded and before it is extracted,
// against what the job will need (the archive and its extraction; the extracted clips, the pair tensors
// and the checkpoints), so that a job that cannot fit fails at once, billed 0, naming what it needs and
// what is free. A write that still fails for want of space (ENOSPC, or EFBIG under a file-size limit)
// ends its stage with the same kind of error; the checkpoints written before are intact (they are
// written beside and renamed), and running the job again after space is freed resumes from the last.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace avtrain::models {
struct ModelFiles;
}

namespace avtrain::service {

struct TrainingShape;
struct TrainingRequest;

// Free bytes for this process on the file system of `folder` (of its nearest existing ancestor).
uint64_t free_disk_bytes(const std::filesystem::path& folder);

// Why `needed` bytes for `for_what` do not fit in `folder` ("not enough disk space for ...: it needs
// 12.3 GiB, 4.0 GiB are free"); nullopt when they do. Names no path: users of a server see it.
std::optional<std::string> space_problem(const std::filesystem::path& folder, uint64_t needed,
                                         std::string_view for_what);
// The same as a thrown error (core::InternalError; the job's error body, billed 0).
void require_free_space(const std::filesystem::path& folder, uint64_t needed, std::string_view for_what);

// Whether an error's message says that a write failed for want of space.
bool is_out_of_space(std::string_view message);
// The message a job ends with when a write failed for want of space during `stage`.
std::string out_of_space_message(const std::filesystem::path& folder, std::string_view stage);

// What a job will write after extraction: for `pairs` pairs at `shape`, the pair tensors (two clips of
// RGB8 and their audio), and the training checkpoints for LoRA rank `rank` on the checkpoint's
// transformer (the last 3 kept and one being written: float32 masters, AdamW's two moments, the bf16
// LoRA), read from its header.
uint64_t job_working_bytes(const TrainingShape& shape, int64_t pairs, int64_t rank,
                           const models::ModelFiles& files);

}  // namespace avtrain::service
