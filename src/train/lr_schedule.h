#pragma once
// The learning-rate schedule (specs/trainer.md §4, DECISIONS.md §22): torch's
// LinearLR(start_factor=1, end_factor=0.1, total_iters=steps), stepped once per optimizer step, no warmup.

#include <cstdint>

namespace avtrain::train {

struct LinearLrSchedule {
  double base_lr = 2e-4;  // the request's learning_rate
  int64_t total_steps = 1;
  double start_factor = 1.0;
  double end_factor = 0.1;

  // The learning rate of optimizer step `step` (1-based): base_lr (start + (end - start) min(step - 1,
  // total) / total), i.e. base_lr at step 1, falling linearly, reaching end_factor base_lr after
  // `total_steps` scheduler steps and staying there. Throws core::InvalidInput for step < 1 or
  // total_steps < 1.
  double at_step(int64_t step) const;
};

}  // namespace avtrain::train
