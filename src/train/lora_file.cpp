#include "train/lora_file.h"

#include <fmt/format.h>

#include <charconv>

#include "core/error.h"

namespace avtrain::train {
namespace {

int64_t positive_integer(const core::Metadata& metadata, const std::string& key, int64_t fallback) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) return fallback;
  int64_t value = 0;
  const auto& text = found->second;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1) {
    throw core::InvalidInput(fmt::format(
        "LoRA metadata {}=\"{}\" is not a positive integer; rewrite the file's metadata", key, text));
  }
  return value;
}

}  // namespace

core::Metadata lora_file_metadata(const LoraFileInfo& info) {
  core::Metadata metadata;
  if (info.spatial_factor != 1) {
    const auto d = std::to_string(info.spatial_factor);
    metadata["reference_downscale_factor"] = d;
    metadata["reference_spatial_scale_factor"] = d;
    metadata["ss_reference_downscale_factor"] = d;
  }
  if (info.temporal_factor != 1)
    metadata["reference_temporal_scale_factor"] = std::to_string(info.temporal_factor);
  metadata["avtrain.training_type"] = info.training_type;
  metadata["avtrain.trigger_phrase"] = info.trigger_phrase;
  metadata["avtrain.rank"] = std::to_string(info.rank);
  metadata["avtrain.base_model"] = info.base_model;
  return metadata;
}

LoraFileInfo read_lora_file_info(const core::Metadata& metadata) {
  LoraFileInfo info;
  // ltx-pipelines reads reference_downscale_factor; older files may carry only the spatial key.
  info.spatial_factor =
      positive_integer(metadata,
                       metadata.count("reference_downscale_factor") ? "reference_downscale_factor"
                                                                    : "reference_spatial_scale_factor",
                       1);
  info.temporal_factor = positive_integer(metadata, "reference_temporal_scale_factor", 1);
  const auto text = [&](const char* key) {
    const auto found = metadata.find(key);
    return found == metadata.end() ? std::string() : found->second;
  };
  info.training_type = text("avtrain.training_type");
  info.trigger_phrase = text("avtrain.trigger_phrase");
  info.base_model = text("avtrain.base_model");
  info.rank = metadata.count("avtrain.rank") ? positive_integer(metadata, "avtrain.rank", 0) : 0;
  return info;
}

}  // namespace avtrain::train
