#pragma once
// What the benchmarks share about the device they time: waiting for queued work and the peak memory.
// Header-only (bench/CMakeLists.txt builds each bench/*.cpp as its own program).

#include <sys/resource.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "core/error.h"
#include "core/runtime.h"

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define AVTRAIN_BENCH_CUDA_STATS 1
#endif

namespace avtrain::bench {

// A benchmark's start: the program's runtime set-up (allocator, threads from the hardware), then --threads
// when it was given (0: keep the runtime's choice).
inline core::RuntimeInfo start_runtime(int64_t threads) {
  auto info = core::initialize_runtime();
  if (threads > 0) {
    torch::set_num_threads(static_cast<int>(threads));
    info.threads = static_cast<int>(threads);
  }
  return info;
}

// --device's value; an unknown or unavailable device ends the program with core::parse_device's message.
inline torch::Device device_flag(const std::string& value) {
  try {
    return core::parse_device(value);
  } catch (const core::InvalidInput& e) {
    std::cerr << "--device: " << e.what() << "\n";
    std::exit(2);
  }
}

// Waits for the device's queued work, so that a wall-clock interval covers it.
inline void synchronize(const torch::Device& device) {
#ifdef AVTRAIN_BENCH_CUDA_STATS
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
#else
  (void)device;
#endif
}

// The CUDA caching allocator's peak of allocated bytes on CUDA, the process's peak resident set on the CPU.
inline double peak_memory_gb(const torch::Device& device) {
  return static_cast<double>(core::device_memory(device).peak_bytes) / 1e9;
}

inline const char* peak_memory_kind(const torch::Device& device) {
  return device.is_cuda() ? "CUDA allocator peak" : "process peak RSS";
}

}  // namespace avtrain::bench
