#pragma once
// Process-wide set-up done once at start: threads, allocator, device, seeds.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace avtrain::core {

struct RuntimeInfo {
  int threads = 1;
  std::string torch_version;
  bool cuda_available = false;
  bool allocator_tuned = true;  // glibc keeps freed memory (false with AVTRAIN_ALLOCATOR=default)
  int cuda_devices = 0;
};

// Sets LibTorch's intra-op threads from the hardware (AVTRAIN_THREADS overrides; LibTorch starts
// at 1) and keeps freed large blocks in the process (glibc otherwise returns blocks over 32 MB to the
// OS and zero-fills them again on reuse, which nearly doubled a CPU training step).
RuntimeInfo initialize_runtime();

// "auto" (CUDA without an index when a device exists, else the CPU), "cpu", "cuda" or "cuda:N"; throws
// core::InvalidInput naming the value when unknown or unavailable.
torch::Device parse_device(std::string_view text);

// Seeds LibTorch's CPU (and CUDA, when present) generators.
void seed_everything(uint64_t seed);

// Memory a device holds for this process: on CUDA the caching allocator's allocated bytes (now and at
// their peak), on the CPU the process's resident set (now and at its peak).
struct DeviceMemory {
  uint64_t current_bytes = 0, peak_bytes = 0;
  const char* kind = "process RSS";  // or "CUDA allocator"
};
DeviceMemory device_memory(const torch::Device& device);

}  // namespace avtrain::core
