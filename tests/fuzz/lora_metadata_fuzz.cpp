// The LoRA file's metadata as readers take it (train/lora_file.h): any keys and string values; a value
// read back is what lora_file_metadata writes for it.
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_support.h"
#include "train/lora_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace avtrain;
  FuzzedDataProvider provider(data, size);
  static const char* kKeys[] = {"reference_downscale_factor",
                                "reference_spatial_scale_factor",
                                "ss_reference_downscale_factor",
                                "reference_temporal_scale_factor",
                                "avtrain.training_type",
                                "avtrain.trigger_phrase",
                                "avtrain.rank",
                                "avtrain.base_model"};
  core::Metadata metadata;
  while (provider.remaining_bytes() > 0) {
    const bool known = provider.ConsumeBool();
    const std::string key =
        known ? kKeys[provider.ConsumeIntegralInRange<size_t>(0, 7)] : provider.ConsumeRandomLengthString(32);
    metadata[key] = provider.ConsumeRandomLengthString(64);
  }
  try {
    const auto info = train::read_lora_file_info(metadata);
    if (info.spatial_factor < 1 || info.temporal_factor < 1 || info.rank < 0) std::abort();
    // What a reader took, written again and read back, is the same.
    const auto again = train::read_lora_file_info(train::lora_file_metadata(info));
    if (again.spatial_factor != info.spatial_factor || again.temporal_factor != info.temporal_factor ||
        again.rank != info.rank || again.trigger_phrase != info.trigger_phrase ||
        again.base_model != info.base_model) {
      std::abort();
    }
  } catch (const core::Error& error) {
    fuzz::check_refusal(error);
  }
  return 0;
}
