#include "models/layers/weight_source.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "core/tensor_io.h"

namespace avtrain::models {
namespace {

enum class Mode { checkpoint, meta, random };
constexpr size_t kListedProblems = 20;

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// FNV-1a of the key: each tensor's random draw depends only on the seed and its name.
uint64_t hash_name(std::string_view name) {
  uint64_t hash = 1469598103934665603ull;
  for (const char c : name) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return hash;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

torch::Tensor random_tensor(uint64_t seed, const std::string& key, const std::vector<int64_t>& shape,
                            Init init, const torch::TensorOptions& options) {
  auto generator = at::detail::createCPUGenerator(seed ^ hash_name(key));
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  torch::Tensor value;
  switch (init) {
    case Init::zeros:
      value = torch::zeros(shape, f32);
      break;
    case Init::ones:
      value = torch::ones(shape, f32);
      break;
    case Init::normal:
      value = at::normal(0.0, 0.3, shape, generator, f32);
      break;
    case Init::positive:
      value = at::empty(shape, f32).uniform_(0.5, 1.5, generator);
      break;
    case Init::automatic:
      if (shape.size() >= 2) {
        int64_t fan_in = 1;
        for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
        value = at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1))), shape,
                           generator, f32);
      } else if (shape.size() == 1 && ends_with(key, "bias")) {
        value = at::normal(0.0, 0.1, shape, generator, f32);
      } else if (shape.size() == 1) {
        value = 1 + at::normal(0.0, 0.1, shape, generator, f32);
      } else {
        value = at::normal(0.0, 0.3, shape, generator, f32);
      }
      break;
  }
  return value.to(options);
}

}  // namespace

struct WeightSource::State {
  Mode mode = Mode::meta;
  std::shared_ptr<const core::SafetensorsSet> set;
  torch::TensorOptions options;
  uint64_t seed = 0;
  std::string root_prefix;

  std::mutex mutex;
  std::vector<std::pair<std::string, std::vector<int64_t>>> taken;
  std::set<std::string> taken_keys;
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
};

WeightSource::WeightSource(std::shared_ptr<State> state, std::string prefix)
    : state_(std::move(state)), prefix_(std::move(prefix)) {}

WeightSource WeightSource::from_checkpoint(std::shared_ptr<const core::SafetensorsSet> set,
                                           std::string prefix, torch::TensorOptions options) {
  auto state = std::make_shared<State>();
  state->mode = Mode::checkpoint;
  state->set = std::move(set);
  state->options = options;
  state->root_prefix = prefix;
  return WeightSource(std::move(state), std::move(prefix));
}

WeightSource WeightSource::meta(std::string prefix, torch::ScalarType dtype) {
  auto state = std::make_shared<State>();
  state->mode = Mode::meta;
  state->options = torch::TensorOptions().dtype(dtype).device(torch::kMeta);
  state->root_prefix = prefix;
  return WeightSource(std::move(state), std::move(prefix));
}

WeightSource WeightSource::random(uint64_t seed, std::string prefix, torch::TensorOptions options) {
  auto state = std::make_shared<State>();
  state->mode = Mode::random;
  state->seed = seed;
  state->options = options;
  state->root_prefix = prefix;
  return WeightSource(std::move(state), std::move(prefix));
}

WeightSource WeightSource::at(std::string_view child) const {
  return WeightSource(state_, prefix_ + std::string(child) + ".");
}

const torch::TensorOptions& WeightSource::options() const { return state_->options; }

bool WeightSource::is_meta() const { return state_->mode == Mode::meta; }

bool WeightSource::has(std::string_view name) const {
  if (state_->mode != Mode::checkpoint) return true;
  return state_->set->find(prefix_ + std::string(name)).has_value();
}

torch::Tensor WeightSource::take_optional(std::string_view name, std::vector<int64_t> shape,
                                          Init init) const {
  if (!has(name)) return {};
  return take(name, std::move(shape), init);
}

torch::Tensor WeightSource::take(std::string_view name, std::vector<int64_t> shape, Init init) const {
  const std::string key = prefix_ + std::string(name);
  auto& state = *state_;
  {
    const std::lock_guard lock(state.mutex);
    state.taken.emplace_back(key, shape);
    state.taken_keys.insert(key);
  }
  switch (state.mode) {
    case Mode::meta:
      return torch::empty(shape, state.options);
    case Mode::random:
      return random_tensor(state.seed, key, shape, init, state.options);
    case Mode::checkpoint:
      break;
  }
  const auto located = state.set->find(key);
  if (!located) {
    const std::lock_guard lock(state.mutex);
    state.missing.push_back(key);
    return torch::empty(shape, state.options.device(torch::kMeta));
  }
  const auto& entry = *located->entry;
  if (entry.shape != shape) {
    const std::lock_guard lock(state.mutex);
    state.mismatched.push_back(
        fmt::format("'{}' has shape {}, expected {}", key, shape_text(entry.shape), shape_text(shape)));
    return torch::empty(shape, state.options.device(torch::kMeta));
  }
  // One tensor at a time: a bf16 file read as float32 never holds a full float32 copy of the model.
  return core::read_tensor(*located->file, entry).to(state.options, /*non_blocking=*/false, /*copy=*/false);
}

void WeightSource::finish(std::string_view component,
                          const std::vector<std::string>& other_components) const {
  auto& state = *state_;
  const std::lock_guard lock(state.mutex);
  if (state.mode != Mode::checkpoint) return;
  const auto file = state.set->description();
  if (!state.missing.empty() || !state.mismatched.empty()) {
    std::string message;
    if (!state.missing.empty()) {
      message +=
          fmt::format("{}: the {} needs {} tensor(s) the file lacks:", file, component, state.missing.size());
      for (size_t i = 0; i < std::min(kListedProblems, state.missing.size()); ++i)
        message += "\n  " + state.missing[i];
      if (state.missing.size() > kListedProblems) {
        message += fmt::format("\n  ... and {} more", state.missing.size() - kListedProblems);
      }
    }
    if (!state.mismatched.empty()) {
      if (!message.empty()) message += "\n";
      message +=
          fmt::format("{}: {} tensor(s) of the {} have the wrong shape for the file's own config:", file,
                      state.mismatched.size(), component);
      for (size_t i = 0; i < std::min(kListedProblems, state.mismatched.size()); ++i) {
        message += "\n  " + state.mismatched[i];
      }
      if (state.mismatched.size() > kListedProblems) {
        message += fmt::format("\n  ... and {} more", state.mismatched.size() - kListedProblems);
      }
    }
    message +=
        "\nThe file does not match what this component expects; check that it is an LTX-2.3 checkpoint and "
        "not truncated, or re-download it.";
    throw core::InvalidInput(message);
  }
  std::vector<std::string> unused;
  for (const auto& name : state.set->names()) {
    if (name.rfind(state.root_prefix, 0) != 0 || state.taken_keys.count(name)) continue;
    const bool elsewhere =
        std::any_of(other_components.begin(), other_components.end(), [&](const std::string& child) {
          return name.compare(state.root_prefix.size(), child.size(), child) == 0;
        });
    if (!elsewhere) unused.push_back(name);
  }
  if (!unused.empty()) {
    std::string listed;
    for (size_t i = 0; i < std::min(kListedProblems, unused.size()); ++i)
      listed += (i ? ", " : "") + unused[i];
    if (unused.size() > kListedProblems)
      listed += fmt::format(", ... ({} more)", unused.size() - kListedProblems);
    core::logger("models").warn("{}: {} key(s) under '{}' are not used by the {}: {}", file, unused.size(),
                                state.root_prefix, component, listed);
  }
}

std::vector<std::pair<std::string, std::vector<int64_t>>> WeightSource::taken() const {
  const std::lock_guard lock(state_->mutex);
  return state_->taken;
}

}  // namespace avtrain::models
