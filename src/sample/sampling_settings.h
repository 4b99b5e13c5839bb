#pragma once
// The validation / preview sampling defaults (DECISIONS.md §23, specs/trainer.md §5.5-5.6).

#include <cstdint>

#include "sample/guidance.h"

namespace avtrain::sample {

// The STG block of a model with `num_layers` blocks: the block at the relative depth of block 28 of
// LTX-2.3's 48, round(28 * num_layers / 48) (half to even, DECISIONS.md §9), clamped to the last block.
// num_layers >= 1 (throws core::InvalidInput otherwise).
int64_t stg_block_for_depth(int64_t num_layers);

struct SamplingSettings {
  int64_t steps = 30;  // Euler steps on ltx2_sigmas(steps) (4096-token shift, as the reference validates)
  double video_cfg_scale = 3.0;
  double audio_cfg_scale = 7.0;
  double stg_scale = 1.0;  // the request's stg_scale, both modalities
  double modality_scale = 3.0;
  double rescale_scale = 0.7;
  uint64_t seed = 42;

  // The guider of each modality for a transformer with `num_layers` blocks (STG at
  // stg_block_for_depth(num_layers)).
  GuiderParams video_guider(int64_t num_layers) const;
  GuiderParams audio_guider(int64_t num_layers) const;
};

}  // namespace avtrain::sample
