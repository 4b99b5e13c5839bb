#include "train/lr_schedule.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace avtrain::train {

double LinearLrSchedule::at_step(int64_t step) const {
  if (total_steps < 1 || step < 1) {
    throw core::InvalidInput("learning-rate schedule: optimizer step " + std::to_string(step) + " of " +
                             std::to_string(total_steps) + " steps; both must be at least 1.");
  }
  // LinearLR's closed form after step - 1 scheduler steps (the scheduler steps after the optimizer).
  const auto elapsed = static_cast<double>(std::min(step - 1, total_steps));
  return base_lr * (start_factor + (end_factor - start_factor) * elapsed / static_cast<double>(total_steps));
}

}  // namespace avtrain::train
