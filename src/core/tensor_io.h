#pragma once
// safetensors <-> LibTorch tensors.

#include <torch/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"

namespace avtrain::core {

torch::ScalarType to_scalar_type(Dtype dtype);  // F8 types have none in LibTorch 1.13: throws
Dtype to_dtype(torch::ScalarType type);

// The tensor of `entry` on the CPU. Zero-copy (a view of the mapping that keeps it alive) when the
// bytes are aligned for the type; F8 tensors are decoded to float32.
torch::Tensor read_tensor(const SafetensorsFile& file, const TensorEntry& entry);
torch::Tensor read_tensor(const SafetensorsSet& set, std::string_view name);

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
// Writes tensors (moved to the CPU, made contiguous) with metadata, atomically.
void write_tensors(const std::filesystem::path& path, const NamedTensors& tensors, const Metadata& metadata = {});

}  // namespace avtrain::core
