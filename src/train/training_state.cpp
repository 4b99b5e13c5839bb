#include "train/training_state.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/tensor_io.h"
#include "train/optimizer.h"

namespace avtrain::train {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLoraFile = "lora_weights.safetensors";
constexpr const char* kStateFile = "training_state.safetensors";
constexpr const char* kStepKey = "avtrain.step";
constexpr const char* kAdamStepKey = "avtrain.adamw_step";
constexpr const char* kRngKey = "rng.cpu";
constexpr const char* kChecksumFile = "checksums.json";

// XXH3-64 of the file's bytes as 16 hex digits; nullopt when it cannot be read.
std::optional<std::string> file_checksum(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  std::vector<char> buffer(size_t{1} << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    XXH3_64bits_update(state.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return std::nullopt;
  return fmt::format("{:016x}", XXH3_64bits_digest(state.get()));
}

std::string folder_name(int64_t step) { return fmt::format("step_{:06d}", step); }

// The step of a folder named step_NNNNNN, or nothing.
std::optional<int64_t> step_of(const std::string& name) {
  constexpr std::string_view prefix = "step_";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  int64_t step = 0;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  const auto [stop, error] = std::from_chars(begin, end, step);
  if (error != std::errc() || stop != end) return std::nullopt;
  return step;
}

// The optimizer's per-parameter state is keyed by the TensorImpl address: as text on LibTorch 1.x
// (c10::guts::to_string, an ostream of the pointer), as the pointer itself on 2.x. The key type is read
// off the map rather than off TORCH_VERSION, so that whichever release made the change needs no table.
int64_t integer(const core::Metadata& metadata, const std::string& key, const fs::path& file) {
  const auto found = metadata.find(key);
  int64_t value = 0;
  if (found != metadata.end()) {
    const auto& text = found->second;
    const auto [stop, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc() && stop == text.data() + text.size()) return value;
  }
  throw core::InternalError(
      fmt::format("training state {} lacks a valid {}; delete the folder {} to resume from "
                  "the checkpoint before it",
                  file.string(), key, file.parent_path().string()));
}

}  // namespace

CheckpointStore::CheckpointStore(fs::path dir, int64_t keep_last)
    : dir_(std::move(dir)), keep_last_(keep_last) {}

CheckpointInfo CheckpointStore::save(int64_t step, const LoraSet& lora, const torch::optim::AdamW& optimizer,
                                     const at::Generator& generator, const core::Metadata& lora_metadata,
                                     const core::Metadata& fingerprint) const {
  const fs::path final_dir = dir_ / folder_name(step);
  const fs::path tmp_dir = dir_ / (folder_name(step) + ".tmp");
  fs::remove_all(tmp_dir);
  fs::create_directories(tmp_dir);

  lora.save(tmp_dir / kLoraFile, lora_metadata, torch::kBFloat16);

  core::NamedTensors tensors;
  core::Metadata metadata = fingerprint;
  metadata[kStepKey] = std::to_string(step);
  std::vector<int64_t> adam_steps;
  const auto parameters = lora.parameters();
  const auto& states = optimizer.state();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto found = states.find(optimizer_state_key(parameters[i]));
    int64_t adam_step = 0;
    if (found != states.end()) {
      const auto& state = static_cast<const torch::optim::AdamWParamState&>(*found->second);
      adam_step = state.step();
      tensors.emplace_back(fmt::format("adamw.{}.exp_avg", i), state.exp_avg());
      tensors.emplace_back(fmt::format("adamw.{}.exp_avg_sq", i), state.exp_avg_sq());
    }
    adam_steps.push_back(adam_step);
  }
  metadata[kAdamStepKey] = fmt::format("[{}]", fmt::join(adam_steps, ","));
  for (const auto& adapter : lora.adapters()) {
    tensors.emplace_back("lora." + adapter.path + ".lora_A", adapter.linear->lora_A.detach());
    tensors.emplace_back("lora." + adapter.path + ".lora_B", adapter.linear->lora_B.detach());
  }
  tensors.emplace_back(kRngKey, generator.get_state());
  core::write_tensors(tmp_dir / kStateFile, tensors, metadata);
  nlohmann::json checksums = nlohmann::json::object();
  for (const char* name : {kLoraFile, kStateFile})
    checksums[name] = file_checksum(tmp_dir / name).value_or("");
  {
    std::ofstream out(tmp_dir / kChecksumFile, std::ios::binary | std::ios::trunc);
    out << checksums.dump() << "\n";
    if (!out.flush()) {
      throw core::InternalError(
          fmt::format("cannot write {} (disk full?)", (tmp_dir / kChecksumFile).string()));
    }
  }

  fs::remove_all(final_dir);
  fs::rename(tmp_dir, final_dir);

  auto all = list();
  if (keep_last_ > 0 && static_cast<int64_t>(all.size()) > keep_last_) {
    for (size_t i = 0; i + static_cast<size_t>(keep_last_) < all.size(); ++i) fs::remove_all(all[i].dir);
  }
  core::logger("train").info("checkpoint of step {} written to {}", step, final_dir.string());
  return {step, final_dir, final_dir / kLoraFile, final_dir / kStateFile};
}

std::vector<CheckpointInfo> CheckpointStore::list() const {
  std::vector<CheckpointInfo> found;
  if (!fs::is_directory(dir_)) return found;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (!entry.is_directory()) continue;
    const auto step = step_of(entry.path().filename().string());
    if (!step || !fs::exists(entry.path() / kStateFile) || !fs::exists(entry.path() / kLoraFile)) continue;
    found.push_back({*step, entry.path(), entry.path() / kLoraFile, entry.path() / kStateFile});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return found;
}

std::optional<CheckpointInfo> CheckpointStore::latest() const {
  auto all = list();
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::optional<std::string> CheckpointStore::damage(const CheckpointInfo& checkpoint) {
  const fs::path checksum_file = checkpoint.dir / kChecksumFile;
  if (!fs::exists(checksum_file)) return std::nullopt;  // written before checksums: trusted as it is
  std::ifstream in(checksum_file, std::ios::binary);
  const auto checksums = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!checksums.is_object()) return kChecksumFile + std::string(" is damaged");
  for (const char* name : {kLoraFile, kStateFile}) {
    const auto expected = checksums.find(name);
    const auto actual = file_checksum(checkpoint.dir / name);
    if (!actual) return fmt::format("{} cannot be read", name);
    if (expected == checksums.end() || !expected->is_string() || expected->get<std::string>() != *actual) {
      return fmt::format("{} does not match the checksum written with it (truncated or changed since)", name);
    }
  }
  return std::nullopt;
}

std::optional<CheckpointInfo> CheckpointStore::restore_latest(LoraSet& lora, torch::optim::AdamW& optimizer,
                                                              at::Generator& generator,
                                                              const core::Metadata& fingerprint) const {
  auto checkpoints = list();
  bool half_restored = false;  // a restore that failed midway left the adapters neither old nor new
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
    auto why = damage(*it);
    if (!why) {
      try {
        restore(*it, lora, optimizer, generator, fingerprint);
        return *it;
      } catch (const core::InternalError& error) {
        why = error.what();
        half_restored = true;
      }
    }
    const fs::path aside = it->dir.string() + ".damaged";
    std::error_code ignored;
    fs::remove_all(aside, ignored);
    fs::rename(it->dir, aside, ignored);
    core::logger("train").warn("the checkpoint of step {} is damaged ({}): set aside as {}; {}", it->step,
                               *why, aside.filename().string(),
                               std::next(it) != checkpoints.rend()
                                   ? fmt::format("trying the one of step {}", std::next(it)->step)
                                   : std::string("no checkpoint is left: training starts over"));
  }
  if (half_restored) {
    throw core::InternalError(
        fmt::format("every checkpoint in {} was damaged, one of them found only while it was being read: run "
                    "the job again "
                    "to train from the start",
                    dir_.string()));
  }
  return std::nullopt;
}

int64_t CheckpointStore::restore(const CheckpointInfo& checkpoint, LoraSet& lora,
                                 torch::optim::AdamW& optimizer, at::Generator& generator,
                                 const core::Metadata& fingerprint) {
  const auto file = core::SafetensorsFile::open(checkpoint.state_file);
  const auto& metadata = file.metadata();
  for (const auto& [key, value] : fingerprint) {
    const auto found = metadata.find(key);
    const std::string stored = found == metadata.end() ? "(absent)" : found->second;
    if (stored != value) {
      throw core::InvalidInput(
          fmt::format("cannot resume from {}: it was trained with {}={}, this run has {}={}; use the same "
                      "settings or a new output folder",
                      checkpoint.dir.string(), key, stored, key, value));
    }
  }
  const auto tensor = [&](const std::string& name) {
    const auto* entry = file.find(name);
    if (!entry) {
      throw core::InternalError(
          fmt::format("training state {} lacks tensor {}; delete the folder {} to resume "
                      "from the checkpoint before it",
                      checkpoint.state_file.string(), name, checkpoint.dir.string()));
    }
    return core::read_tensor(file, *entry);
  };

  const torch::NoGradGuard no_grad;
  for (const auto& adapter : lora.adapters()) {
    for (auto* target : {&adapter.linear->lora_A, &adapter.linear->lora_B}) {
      const auto name = "lora." + adapter.path + (target == &adapter.linear->lora_A ? ".lora_A" : ".lora_B");
      const auto stored = tensor(name);
      if (stored.sizes() != target->sizes()) {
        throw core::InvalidInput(fmt::format(
            "cannot resume from {}: {} has shape [{}], the adapters [{}]", checkpoint.dir.string(), name,
            fmt::join(stored.sizes().vec(), ", "), fmt::join(target->sizes().vec(), ", ")));
      }
      target->copy_(stored);
    }
  }

  const auto steps_text = metadata.count(kAdamStepKey) ? metadata.at(kAdamStepKey) : std::string();
  const auto adam_steps = nlohmann::json::parse(steps_text, nullptr, /*allow_exceptions=*/false);
  const auto parameters = lora.parameters();
  if (!adam_steps.is_array() || adam_steps.size() != parameters.size()) {
    throw core::InternalError(
        fmt::format("training state {} has {}=\"{}\", expected {} step counts; delete the "
                    "folder {} to resume from the checkpoint before it",
                    checkpoint.state_file.string(), kAdamStepKey, steps_text, parameters.size(),
                    checkpoint.dir.string()));
  }
  auto& states = optimizer.state();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto adam_step = adam_steps[i].get<int64_t>();
    states.erase(optimizer_state_key(parameters[i]));
    if (adam_step == 0) continue;  // the parameter was never stepped
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(adam_step);
    state->exp_avg(tensor(fmt::format("adamw.{}.exp_avg", i)).to(parameters[i].options()).clone());
    state->exp_avg_sq(tensor(fmt::format("adamw.{}.exp_avg_sq", i)).to(parameters[i].options()).clone());
    states[optimizer_state_key(parameters[i])] = std::move(state);
  }
  generator.set_state(tensor(kRngKey).clone());
  return integer(metadata, kStepKey, checkpoint.state_file);
}

}  // namespace avtrain::train
