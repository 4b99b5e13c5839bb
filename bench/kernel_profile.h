#pragma once
// Where a step's device time goes: LibTorch's Kineto profiler (LibTorch >= 2) around one call, its events summed
// per name and printed as a table, and its Chrome trace saved. On CUDA the names are the GPU's kernels and
// copies, and the table starts with the GPU's busy time against the wall time (the difference is time the GPU
// waited for the host); on the CPU they are operators, whose times include the operators they call.
// Header-only (bench/CMakeLists.txt builds each bench/*.cpp as its own program).

#include <torch/torch.h>
#include <torch/version.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

namespace avtrain::bench {

// A kernel's name without its return type and the namespaces every ATen kernel repeats, cut to `width`.
inline std::string short_kernel_name(std::string name, size_t width = 110) {
  if (name.rfind("void ", 0) == 0) name.erase(0, 5);
  for (const std::string noise : {"at::native::", "(anonymous namespace)::", "c10::", "at::"}) {
    for (size_t at = name.find(noise); at != std::string::npos; at = name.find(noise, at)) name.erase(at, noise.size());
  }
  return name.size() > width ? name.substr(0, width - 3) + "..." : name;
}

// The kind of GPU work a kernel name stands for, for the summary lines.
inline std::string kernel_kind(const std::string& name) {
  const auto has = [&](const char* part) { return name.find(part) != std::string::npos; };
  if (has("flash") || has("fmha") || has("sdpa") || has("attention")) return "attention";
  if (has("gemm") || has("nvjet") || has("cutlass") || has("xmma") || has("cublas")) return "GEMM";
  if (has("emcpy") || has("emset")) return "copies and fills";
  return "element-wise, reductions, other";
}

struct ProfileRow {
  int64_t calls = 0;
  double ms = 0;
};

// Runs `work` (which must wait for the device's queued work before returning) once under the profiler, prints
// the `top` names by total time and the totals per kind, and saves the Chrome trace to `trace_path` (none when
// empty). Returns false, saying why, on a LibTorch without the Kineto profiler.
inline bool profile_once(const std::function<void()>& work, const torch::Device& device, const std::string& trace_path,
                         size_t top = 30) {
#if TORCH_VERSION_MAJOR >= 2
  namespace profiler = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  std::set<ActivityType> activities{ActivityType::CPU};
  if (device.is_cuda()) activities.insert(ActivityType::CUDA);
  profiler::prepareProfiler(config, activities);
  profiler::enableProfiler(config, activities);
  const auto start = std::chrono::steady_clock::now();
  work();
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const auto result = profiler::disableProfiler();

  std::map<std::string, ProfileRow> rows;
  std::vector<std::pair<uint64_t, uint64_t>> busy;  // [start, end) of each GPU activity, ns
  for (const auto& event : result->events()) {
    const bool on_gpu = event.deviceType() == c10::DeviceType::CUDA;
    if (device.is_cuda() != on_gpu) continue;
    if (!on_gpu && event.name().rfind("aten::", 0) != 0) continue;
    auto& row = rows[event.name()];
    ++row.calls;
    row.ms += static_cast<double>(event.durationNs()) / 1e6;
    if (on_gpu) busy.emplace_back(event.startNs(), event.endNs());
  }
  std::vector<std::pair<std::string, ProfileRow>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double total_ms = 0;
  for (const auto& [name, row] : sorted) total_ms += row.ms;

  fmt::print("profile of one step: wall {:.1f} ms", wall_ms);
  if (device.is_cuda()) {
    // The union of the activities' intervals: kernels on several streams may overlap.
    std::sort(busy.begin(), busy.end());
    double busy_ms = 0;
    uint64_t covered_to = 0;
    for (const auto& [begin, end] : busy) {
      const uint64_t from = std::max(begin, covered_to);
      if (end > from) busy_ms += static_cast<double>(end - from) / 1e6;
      covered_to = std::max(covered_to, end);
    }
    fmt::print(", GPU busy {:.1f} ms ({:.1f}%), {} GPU activities\n", busy_ms, 100 * busy_ms / wall_ms, busy.size());
    std::map<std::string, ProfileRow> kinds;
    for (const auto& [name, row] : sorted) {
      auto& kind = kinds[kernel_kind(name)];
      kind.calls += row.calls;
      kind.ms += row.ms;
    }
    for (const auto& [kind, row] : kinds) {
      fmt::print("  {:<32} {:>8} calls {:>10.1f} ms {:>6.1f}%\n", kind, row.calls, row.ms, 100 * row.ms / total_ms);
    }
  } else {
    fmt::print(" (CPU operators; a time includes the operators it calls)\n");
  }
  fmt::print("| {:<110} | {:>7} | {:>10} | {:>6} |\n", device.is_cuda() ? "kernel" : "operator", "calls", "ms", "share");
  fmt::print("|{:-<112}|{:->9}|{:->12}|{:->8}|\n", "", "", "", "");
  for (size_t i = 0; i < std::min(top, sorted.size()); ++i) {
    const auto& [name, row] = sorted[i];
    fmt::print("| {:<110} | {:>7} | {:>10.2f} | {:>5.1f}% |\n", short_kernel_name(name), row.calls, row.ms,
               100 * row.ms / total_ms);
  }
  if (!trace_path.empty()) {
    result->save(trace_path);
    fmt::print("Chrome trace: {}\n", trace_path);
  }
  return true;
#else
  (void)work, (void)device, (void)trace_path, (void)top;
  fmt::print("profile: needs LibTorch >= 2 (its Kineto profiler); this is {}\n", TORCH_VERSION);
  return false;
#endif
}

}  // namespace avtrain::bench
