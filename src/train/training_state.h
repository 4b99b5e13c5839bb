#pragma once
// Resumable training checkpoints (DECISIONS.md §22: every 250 steps by default, the last 3 kept;
// trainer.md §3.4, §4 "Resume").
//
// <dir>/step_000250/ holds
//   lora_weights.safetensors    the delivered LoRA file (DECISIONS.md §26: bf16, alpha/r folded into B,
//                               metadata), what validation and the job's result use;
//   training_state.safetensors  everything else a bit-identical continuation needs: the float32 LoRA
//                               masters, AdamW's moments and step counts, the step's RNG state (uint8),
//                               with the step and a settings fingerprint in the JSON metadata.
// safetensors for both (not torch::save) so that one mmap reader and writer serve every file of the
// project and the state is readable without LibTorch. The data order is not stored: it follows from the
// seed and the step (DataOrder). A checkpoint is written to step_000250.tmp/ and renamed into place, so
// a crash leaves either the complete folder or none; folders that lack the state file are ignored.
// checksums.json beside the two files holds their XXH3-64 checksums, so a file damaged afterwards (a
// truncated copy, a flipped bit) is found before it is trusted: resume then falls back to the
// checkpoint before it (restore_latest).

#include <ATen/core/Generator.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "train/lora.h"

namespace avtrain::train {

struct CheckpointInfo {
  int64_t step = 0;
  std::filesystem::path dir, lora_file, state_file;
};

class CheckpointStore {
 public:
  // keep_last < 1 keeps every checkpoint.
  explicit CheckpointStore(std::filesystem::path dir, int64_t keep_last = 3);

  // Writes the checkpoint of `step` (after its optimizer step), then removes all but the newest
  // keep_last. `fingerprint` names the settings a resume must share (rank, targets, seed, ...).
  CheckpointInfo save(int64_t step, const LoraSet& lora, const torch::optim::AdamW& optimizer,
                      const at::Generator& generator, const core::Metadata& lora_metadata,
                      const core::Metadata& fingerprint) const;

  // The complete checkpoints, oldest first.
  std::vector<CheckpointInfo> list() const;
  std::optional<CheckpointInfo> latest() const;

  // Why `checkpoint` cannot be trusted (a file missing, or its checksum not the one written with it);
  // nullopt when it can. Checkpoints written before checksums existed are trusted as they are.
  static std::optional<std::string> damage(const CheckpointInfo& checkpoint);
  // Restores the newest checkpoint that is whole: a damaged one is set aside (renamed step_N.damaged,
  // which list() ignores) with a warning, and the one before it is tried. nullopt when none is left.
  // A fingerprint that differs is not damage: core::InvalidInput, as restore throws it.
  std::optional<CheckpointInfo> restore_latest(LoraSet& lora, torch::optim::AdamW& optimizer,
                                               at::Generator& generator,
                                               const core::Metadata& fingerprint) const;
  // Restores the LoRA masters, the optimizer state and the generator; returns the checkpoint's step.
  // Throws core::InvalidInput naming the setting when the fingerprint differs (a different rank, target
  // list or seed cannot continue this run) and core::InternalError for a damaged file.
  static int64_t restore(const CheckpointInfo& checkpoint, LoraSet& lora, torch::optim::AdamW& optimizer,
                         at::Generator& generator, const core::Metadata& fingerprint);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  int64_t keep_last_;
};

}  // namespace avtrain::train
