#pragma once
// The delivered LoRA file's metadata (DECISIONS.md §26; trainer.md §3.3): the IC-LoRA reference factors
// under the keys ltx-pipelines and ComfyUI read, and avtrain's own description of the training.

#include <cstdint>
#include <string>

#include "core/safetensors.h"

namespace avtrain::train {

struct LoraFileInfo {
  int64_t spatial_factor = 1;   // d
  int64_t temporal_factor = 1;  // S
  std::string trigger_phrase;
  int64_t rank = 0;
  std::string base_model;  // the checkpoint's file name without extension, e.g. "ltx-2.3-22b-dev"
  std::string training_type = "av2av";
};

// reference_downscale_factor, reference_spatial_scale_factor and ss_reference_downscale_factor when
// d != 1; reference_temporal_scale_factor when S != 1; avtrain.training_type, avtrain.trigger_phrase,
// avtrain.rank, avtrain.base_model. All values are strings.
core::Metadata lora_file_metadata(const LoraFileInfo& info);

// The inverse, as readers do it: absent factors are 1, absent avtrain keys stay empty / 0. Throws
// core::InvalidInput naming the key when a value is not a positive integer.
LoraFileInfo read_lora_file_info(const core::Metadata& metadata);

}  // namespace avtrain::train
