#include "train/lora.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/tensor_io.h"

namespace avtrain::train {
namespace {

constexpr std::string_view kKeyPrefix = "diffusion_model.";
constexpr std::string_view kSuffixA = ".lora_A.weight";
constexpr std::string_view kSuffixB = ".lora_B.weight";

// Every Linear of the model by module path. LibTorch names a ModuleList child "0", so the path of
// `to_out`'s first element is "to_out.0", the checkpoint's own name.
std::vector<std::pair<std::string, models::Linear>> linear_layers(torch::nn::Module& model) {
  std::vector<std::pair<std::string, models::Linear>> found;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<models::LinearImpl>(item.value())) {
      found.emplace_back(item.key(), models::Linear(linear));
    }
  }
  return found;
}

std::string shape_text(const torch::Tensor& tensor) { return fmt::format("[{}]", fmt::join(tensor.sizes().vec(), ", ")); }

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

bool lora_target_matches(const std::string& path, const std::string& target) {
  if (path == target) return true;
  return path.size() > target.size() && ends_with(path, target) && path[path.size() - target.size() - 1] == '.';
}

LoraSet LoraSet::inject(torch::nn::Module& model, const LoraOptions& options) {
  if (options.rank <= 0) throw core::InvalidInput(fmt::format("LoRA rank {} must be positive", options.rank));
  LoraSet set;
  set.options_ = options;
  std::set<std::string> matched_targets;
  auto generator = at::detail::createCPUGenerator(options.seed);
  for (auto& [path, linear] : linear_layers(model)) {
    bool selected = false;
    for (const auto& target : options.targets) {
      if (lora_target_matches(path, target)) {
        selected = true;
        matched_targets.insert(target);
      }
    }
    if (!selected) continue;
    const auto device = linear->weight.device();
    // kaiming_uniform_(a=sqrt(5)) on [r, in] is U(-1/sqrt(in), 1/sqrt(in)); PEFT rounds A through the
    // base dtype before keeping a float32 master (trainer.md §3.2).
    const double bound = 1.0 / std::sqrt(static_cast<double>(linear->in_features));
    auto a = at::empty({options.rank, linear->in_features}, torch::kFloat32).uniform_(-bound, bound, generator);
    a = a.to(linear->weight.scalar_type()).to(torch::kFloat32).to(device);
    auto b = torch::zeros({linear->out_features, options.rank}, torch::TensorOptions(torch::kFloat32).device(device));
    linear->lora_A = a.set_requires_grad(true);
    linear->lora_B = b.set_requires_grad(true);
    linear->lora_scale = set.scale();
    set.adapters_.push_back({path, linear});
  }
  std::vector<std::string> unmatched;
  for (const auto& target : options.targets)
    if (!matched_targets.count(target)) unmatched.push_back(target);
  if (!unmatched.empty()) {
    throw core::InvalidInput(fmt::format("LoRA target(s) {} select no Linear layer of the model; use module names such "
                                         "as to_q, to_k, to_v, to_out.0 or attn1.to_q",
                                         fmt::join(unmatched, ", ")));
  }
  return set;
}

std::vector<torch::Tensor> LoraSet::parameters() const {
  std::vector<torch::Tensor> result;
  for (const auto& adapter : adapters_) {
    result.push_back(adapter.linear->lora_A);
    result.push_back(adapter.linear->lora_B);
  }
  return result;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraSet::export_tensors(torch::ScalarType dtype) const {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  const torch::NoGradGuard no_grad;
  for (const auto& adapter : adapters_) {
    const auto key = std::string(kKeyPrefix) + adapter.path;
    tensors.emplace_back(key + std::string(kSuffixA), adapter.linear->lora_A.detach().to(torch::kCPU, dtype).contiguous());
    tensors.emplace_back(key + std::string(kSuffixB),
                         (adapter.linear->lora_B.detach() * scale()).to(torch::kCPU, dtype).contiguous());
  }
  return tensors;
}

void LoraSet::save(const std::filesystem::path& path, const core::Metadata& metadata, torch::ScalarType dtype) const {
  core::write_tensors(path, export_tensors(dtype), metadata);
}

void LoraSet::load(const std::filesystem::path& path) {
  const auto file = core::SafetensorsFile::open(path);
  std::vector<std::string> problems;
  std::set<std::string> expected;
  const torch::NoGradGuard no_grad;
  for (auto& adapter : adapters_) {
    const auto key = std::string(kKeyPrefix) + adapter.path;
    const auto a_key = key + std::string(kSuffixA), b_key = key + std::string(kSuffixB);
    expected.insert(a_key);
    expected.insert(b_key);
    const auto* a = file.find(a_key);
    const auto* b = file.find(b_key);
    if (!a || !b) {
      problems.push_back(fmt::format("missing {}", !a ? a_key : b_key));
      continue;
    }
    const auto a_tensor = core::read_tensor(file, *a);
    const auto b_tensor = core::read_tensor(file, *b);
    if (a_tensor.sizes() != adapter.linear->lora_A.sizes() || b_tensor.sizes() != adapter.linear->lora_B.sizes()) {
      problems.push_back(fmt::format("{} has rank {} ({} x {}), the adapters have rank {}", key, a_tensor.size(0),
                                     b_tensor.size(0), a_tensor.size(1), options_.rank));
      continue;
    }
    adapter.linear->lora_A.copy_(a_tensor.to(torch::kFloat32));
    adapter.linear->lora_B.copy_(b_tensor.to(torch::kFloat32) / scale());
  }
  for (const auto& entry : file.entries())
    if (!expected.count(entry.name)) problems.push_back(fmt::format("unexpected key {}", entry.name));
  if (!problems.empty()) {
    throw core::InvalidInput(fmt::format("{}: does not match the adapters being trained (targets {}, rank {}): {}",
                                         path.string(), fmt::join(options_.targets, ", "), options_.rank,
                                         fmt::join(problems.begin(), problems.begin() + std::min<size_t>(problems.size(), 20), "; ")));
  }
}

void LoraSet::detach() {
  for (auto& adapter : adapters_) {
    adapter.linear->lora_A = torch::Tensor();
    adapter.linear->lora_B = torch::Tensor();
  }
  adapters_.clear();
}

int fuse_lora_file(torch::nn::Module& model, const std::filesystem::path& path, double strength) {
  const auto file = core::SafetensorsFile::open(path);
  std::map<std::string, models::Linear> by_path;
  for (auto& [layer_path, linear] : linear_layers(model)) by_path.emplace(layer_path, linear);
  int fused = 0;
  std::vector<std::string> unknown;
  const torch::NoGradGuard no_grad;
  for (const auto& entry : file.entries()) {
    if (!ends_with(entry.name, kSuffixA)) continue;
    std::string layer_path = entry.name.substr(0, entry.name.size() - kSuffixA.size());
    if (layer_path.rfind(kKeyPrefix, 0) == 0) layer_path = layer_path.substr(kKeyPrefix.size());
    const auto it = by_path.find(layer_path);
    const auto b_key = entry.name.substr(0, entry.name.size() - kSuffixA.size()) + std::string(kSuffixB);
    const auto* b_entry = file.find(b_key);
    if (it == by_path.end() || !b_entry) {
      unknown.push_back(entry.name);
      continue;
    }
    auto& weight = it->second->weight;
    const auto a = core::read_tensor(file, entry).to(weight.device(), torch::kFloat32);
    const auto b = core::read_tensor(file, *b_entry).to(weight.device(), torch::kFloat32);
    if (b.size(0) != weight.size(0) || a.size(1) != weight.size(1) || a.size(0) != b.size(1)) {
      throw core::InvalidInput(fmt::format("{}: {} has shapes A {} B {} that do not fit the layer's weight {}",
                                           path.string(), layer_path, shape_text(a), shape_text(b), shape_text(weight)));
    }
    weight.copy_((weight.to(torch::kFloat32) + strength * torch::matmul(b, a)).to(weight.scalar_type()));
    ++fused;
  }
  if (!unknown.empty()) {
    throw core::InvalidInput(fmt::format("{}: {} LoRA key(s) name no Linear layer of this model (first: {}); is the LoRA "
                                         "for another model?",
                                         path.string(), unknown.size(), unknown.front()));
  }
  return fused;
}

}  // namespace avtrain::train
