#include "core/tensor_io.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstring>

#include "core/error.h"
#include "core/float_formats.h"

namespace avtrain::core {

torch::ScalarType to_scalar_type(Dtype dtype) {
  switch (dtype) {
    case Dtype::bf16: return torch::kBFloat16;
    case Dtype::f16: return torch::kFloat16;
    case Dtype::f32: return torch::kFloat32;
    case Dtype::f64: return torch::kFloat64;
    case Dtype::i64: return torch::kInt64;
    case Dtype::i32: return torch::kInt32;
    case Dtype::i16: return torch::kInt16;
    case Dtype::i8: return torch::kInt8;
    case Dtype::u8: return torch::kUInt8;
    case Dtype::boolean: return torch::kBool;
    case Dtype::f8_e4m3:
    case Dtype::f8_e5m2: break;
  }
  throw InternalError(fmt::format("dtype {} has no LibTorch type; decode it first", dtype_name(dtype)));
}

Dtype to_dtype(torch::ScalarType type) {
  switch (type) {
    case torch::kBFloat16: return Dtype::bf16;
    case torch::kFloat16: return Dtype::f16;
    case torch::kFloat32: return Dtype::f32;
    case torch::kFloat64: return Dtype::f64;
    case torch::kInt64: return Dtype::i64;
    case torch::kInt32: return Dtype::i32;
    case torch::kInt16: return Dtype::i16;
    case torch::kInt8: return Dtype::i8;
    case torch::kUInt8: return Dtype::u8;
    case torch::kBool: return Dtype::boolean;
    default: break;
  }
  throw InvalidInput(fmt::format("tensors of type {} cannot be written to safetensors", c10::toString(type)));
}

torch::Tensor read_tensor(const SafetensorsFile& file, const TensorEntry& entry) {
  const auto bytes = file.bytes(entry);
  if (entry.dtype == Dtype::f8_e4m3 || entry.dtype == Dtype::f8_e5m2) {
    auto decoded = torch::empty(entry.shape, torch::kFloat32);
    auto* out = decoded.data_ptr<float>();
    const auto decode = entry.dtype == Dtype::f8_e4m3 ? f8_e4m3_to_float : f8_e5m2_to_float;
    for (size_t i = 0; i < bytes.size(); ++i) out[i] = decode(static_cast<uint8_t>(bytes[i]));
    return decoded;
  }
  const auto type = to_scalar_type(entry.dtype);
  auto* data = const_cast<std::byte*>(bytes.data());
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(entry.dtype) != 0) {
    auto copy = torch::empty(entry.shape, type);
    std::memcpy(copy.data_ptr(), data, bytes.size());
    return copy;
  }
  auto keep_alive = file.keep_alive();
  return torch::from_blob(data, entry.shape, [keep_alive](void*) mutable { keep_alive.reset(); },
                          torch::TensorOptions().dtype(type));
}

torch::Tensor read_tensor(const SafetensorsSet& set, std::string_view name) {
  const auto located = set.at(name);
  return read_tensor(*located.file, *located.entry);
}

void write_tensors(const std::filesystem::path& path, const NamedTensors& tensors, const Metadata& metadata) {
  std::vector<torch::Tensor> holders;
  std::vector<TensorToWrite> to_write;
  holders.reserve(tensors.size());
  to_write.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    holders.push_back(cpu);
    to_write.push_back({name, to_dtype(cpu.scalar_type()), cpu.sizes().vec(),
                        {static_cast<const std::byte*>(cpu.data_ptr()), cpu.nbytes()}});
  }
  write_safetensors(path, to_write, metadata);
}

}  // namespace avtrain::core
