#pragma once
// The AV2AV IC-LoRA training loop (specs/trainer.md §2-§4, DECISIONS.md §22, §26). It trains adapters
// on an already-built transformer from already-encoded pairs; sampling previews is not its business
// (DESIGN.md): each checkpoint is reported through on_checkpoint, where the job pipeline validates.
//
//   Trainer trainer(model, options);
//   const auto result = trainer.train(data, progress);   // resumes from options.output_dir when possible
//
// Per step: the pair of DataOrder, build_step_inputs, forward, loss, backward, gradient clipping,
// AdamW with the step's learning rate (LinearLrSchedule), a metrics line, a checkpoint every
// checkpoint_interval steps, at the extra steps the caller asks for and at the last step, progress, then
// cancellation is checked.

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>

#include "core/progress.h"
#include "core/safetensors.h"
#include "models/transformer/transformer_model.h"
#include "train/lora.h"
#include "train/lora_file.h"
#include "train/optimizer.h"
#include "train/training_data.h"
#include "train/training_metrics.h"
#include "train/training_state.h"
#include "train/training_step.h"

namespace avtrain::train {

struct TrainerOptions {
  int64_t steps = 3000;
  double learning_rate = 2e-4;
  uint64_t seed = 42;        // data order, sigmas and noise
  LoraOptions lora;          // rank, alpha (= rank for the service), targets, the seed of A's init
  AdamWSettings adamw;       // its learning_rate is replaced by the schedule's
  double end_factor = 0.1;   // linear decay to end_factor x learning_rate over `steps`
  TrainingStepOptions step;  // d, S
  bool gradient_checkpointing = true;
  // Blocks whose long attentions (the video self-attention) keep their outputs through the checkpoint's
  // recompute instead of running again (-1: all, 0: none; TransformerModel::set_kept_attention).
  int64_t kept_attention_blocks = -1;
  int64_t checkpoint_interval = 250;  // 0: only at the last step
  // Steps that get a checkpoint besides those (the job pipeline's validation steps, DECISIONS.md §34).
  std::function<bool(int64_t step)> extra_checkpoint_due;
  int64_t keep_checkpoints = 3;
  std::filesystem::path output_dir;  // checkpoints/, metrics.jsonl
  // Continue from the newest checkpoint in output_dir/checkpoints; false deletes them and starts over.
  bool resume = true;
  // Without a checkpoint to resume: start at step 0 from this LoRA file's weights (empty: fresh adapters).
  std::filesystem::path initial_lora;
  LoraFileInfo file_info;     // metadata of the delivered file; d, S and rank are filled from the options
  int64_t log_interval = 10;  // a log line with the losses every this many steps
  // After each checkpoint was written (the job pipeline validates with it).
  std::function<void(const CheckpointInfo&)> on_checkpoint;
  // After a checkpoint was restored, before the next step: work due at that checkpoint that a killed
  // run may not have finished (the job pipeline's preview of that step).
  std::function<void(const CheckpointInfo&)> on_resume;
  // After each step's metrics line.
  std::function<void(const StepMetrics&)> on_step;
};

struct TrainResult {
  int64_t first_step = 1;  // 1 for a fresh run, checkpoint step + 1 after a resume
  int64_t steps = 0;       // the last step done
  CheckpointInfo final_checkpoint;
  StepMetrics last_metrics;
};

class Trainer {
 public:
  // Injects the adapters into `model` (its own weights stay frozen) and makes the optimizer.
  Trainer(models::TransformerModel model, TrainerOptions options);

  // Runs steps until options.steps. Throws core::InternalError naming the step when the loss or the
  // gradient norm is not finite (nothing of that step is written; the checkpoints before it stay),
  // core::Cancelled when `progress` is cancelled (after the step that was running, and its checkpoint
  // if one was due).
  TrainResult train(const TrainingData& data, core::Progress& progress);

  LoraSet& lora() { return lora_; }
  const TrainerOptions& options() const { return options_; }
  // The settings a resumed run must share with the checkpoint it continues.
  core::Metadata fingerprint() const;
  // The metadata of the delivered LoRA file (DECISIONS.md §26).
  core::Metadata lora_metadata() const;

 private:
  models::TransformerModel model_;
  TrainerOptions options_;
  LoraSet lora_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

}  // namespace avtrain::train
