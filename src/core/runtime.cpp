#include "core/runtime.h"

#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <thread>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define AVTRAIN_CUDA_STATS 1
#endif

#include "core/error.h"

namespace avtrain::core {
namespace {

int threads_from_environment_or_hardware() {
  if (const char* env = std::getenv("AVTRAIN_THREADS"); env && *env) {
    int value = 0;
    const std::string_view text(env);
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 1) {
      throw InvalidInput(
          fmt::format("AVTRAIN_THREADS={} is not a positive integer; unset it or give a thread count", text));
    }
    return value;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

RuntimeInfo initialize_runtime() {
  RuntimeInfo info;
  // Keep freed memory: no trimming and no mmap for large blocks, so a training step reuses its
  // buffers instead of faulting in fresh zeroed pages every step (docs/performance.md measures it).
  // AVTRAIN_ALLOCATOR=default keeps glibc's settings, for that measurement.
  const char* allocator = std::getenv("AVTRAIN_ALLOCATOR");
  info.allocator_tuned = !(allocator && std::string_view(allocator) == "default");
  if (info.allocator_tuned) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, -1);  // never trim (a huge threshold; glibc treats -1 as SIZE_MAX)
    mallopt(M_TOP_PAD, 64 << 20);
  }

  info.threads = threads_from_environment_or_hardware();
  at::set_num_threads(info.threads);
  info.torch_version = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  return info;
}

torch::Device parse_device(std::string_view text) {
  if (text == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (text == "cpu") return torch::Device(torch::kCPU);
  if (text.rfind("cuda", 0) == 0) {
    int index = 0;
    if (text.size() > 4) {
      const auto digits = text.substr(text.find(':') == 4 ? 5 : text.size());
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
        throw InvalidInput(fmt::format("device '{}' is not understood; use auto, cpu, cuda or cuda:N", text));
      }
    }
    if (!torch::cuda::is_available()) {
      throw InvalidInput(fmt::format(
          "device '{}' asked for, but this LibTorch build has no usable CUDA device; use cpu", text));
    }
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (index >= count) {
      throw InvalidInput(
          fmt::format("device '{}' asked for, but only {} CUDA device(s) exist (cuda:0..cuda:{})", text,
                      count, count - 1));
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw InvalidInput(fmt::format("device '{}' is not understood; use auto, cpu, cuda or cuda:N", text));
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

DeviceMemory device_memory(const torch::Device& device) {
#ifdef AVTRAIN_CUDA_STATS
  if (device.is_cuda()) {
    const auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    const auto& allocated = stats.allocated_bytes[0];  // [0]: StatType::AGGREGATE
    return {static_cast<uint64_t>(allocated.current), static_cast<uint64_t>(allocated.peak),
            "CUDA allocator"};
  }
#endif
  (void)device;
  DeviceMemory memory;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  memory.peak_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    unsigned long pages = 0, resident = 0;
    if (std::fscanf(statm, "%lu %lu", &pages, &resident) == 2) {
      memory.current_bytes = static_cast<uint64_t>(resident) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    }
    std::fclose(statm);
  }
  return memory;
}

}  // namespace avtrain::core
