#include "sample/sampling_settings.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace avtrain::sample {
namespace {

// LTX-2.3 perturbs block 28 of 48 (transformer.md §9.2).
constexpr int64_t kReferenceStgBlock = 28;
constexpr int64_t kReferenceNumLayers = 48;

}  // namespace

int64_t stg_block_for_depth(int64_t num_layers) {
  if (num_layers < 1) {
    throw core::InvalidInput("transformer num_layers=" + std::to_string(num_layers) +
                             " leaves no block for spatio-temporal guidance; the checkpoint config needs at "
                             "least one transformer block.");
  }
  // 28 * L / 48 is a multiple of 1/12, so its double value is exact at the .5 ties.
  const auto block = static_cast<int64_t>(std::nearbyint(
      static_cast<double>(kReferenceStgBlock * num_layers) / static_cast<double>(kReferenceNumLayers)));
  return std::min(block, num_layers - 1);
}

GuiderParams SamplingSettings::video_guider(int64_t num_layers) const {
  return {video_cfg_scale, stg_scale, {stg_block_for_depth(num_layers)}, rescale_scale, modality_scale};
}

GuiderParams SamplingSettings::audio_guider(int64_t num_layers) const {
  return {audio_cfg_scale, stg_scale, {stg_block_for_depth(num_layers)}, rescale_scale, modality_scale};
}

}  // namespace avtrain::sample
