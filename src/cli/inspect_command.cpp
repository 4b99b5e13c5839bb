// avtrain inspect FILE|DIR: what a .safetensors file (or sharded directory) holds.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/json_text.h"
#include "core/safetensors.h"

namespace avtrain::cli {
namespace {

// Groups keys by component: the first segment, or the first two for the unified checkpoint's
// nested prefixes ("model.diffusion_model", "vae.encoder", "audio_vae.decoder", ...).
std::string group_of(const std::string& key) {
  const auto first = key.find('.');
  if (first == std::string::npos) return key;
  const auto head = key.substr(0, first);
  if (head == "model" || head == "vae" || head == "audio_vae" || head == "language_model" ||
      head == "vocoder") {
    const auto second = key.find('.', first + 1);
    if (second != std::string::npos) return key.substr(0, second);
  }
  return head;
}

std::string value_text(const nlohmann::json& section, const char* key) {
  const auto it = section.find(key);
  return it == section.end() ? std::string("-") : it->dump();
}

// One line per config section with the values that identify the model.
nlohmann::json config_summary(const nlohmann::json& config) {
  nlohmann::json summary = nlohmann::json::object();
  if (const auto t = config.find("transformer"); t != config.end() && t->is_object()) {
    summary["transformer"] = fmt::format(
        "{} blocks, video {}x{} heads (in {}, context {}), audio {}x{} heads (in {}, context {}), gated "
        "attention {}, "
        "cross-attention AdaLN {}, rope {}",
        value_text(*t, "num_layers"), value_text(*t, "num_attention_heads"),
        value_text(*t, "attention_head_dim"), value_text(*t, "in_channels"),
        value_text(*t, "cross_attention_dim"), value_text(*t, "audio_num_attention_heads"),
        value_text(*t, "audio_attention_head_dim"), value_text(*t, "audio_in_channels"),
        value_text(*t, "audio_cross_attention_dim"), value_text(*t, "apply_gated_attention"),
        value_text(*t, "cross_attention_adaln"), value_text(*t, "rope_type"));
  }
  if (const auto v = config.find("vae"); v != config.end() && v->is_object()) {
    summary["vae"] = fmt::format("latent channels {}, encoder base {}, decoder base {}, {} encoder blocks",
                                 value_text(*v, "latent_channels"), value_text(*v, "encoder_base_channels"),
                                 value_text(*v, "decoder_base_channels"),
                                 v->contains("encoder_blocks") ? (*v)["encoder_blocks"].size() : 0);
  }
  for (const char* section : {"audio_vae", "vocoder", "scheduler"}) {
    if (const auto s = config.find(section); s != config.end() && s->is_object()) {
      std::string keys;
      for (const auto& [key, value] : s->items()) keys += (keys.empty() ? "" : ", ") + key;
      summary[section] = "keys: " + keys;
    }
  }
  return summary;
}

int inspect(const std::string& path, bool as_json) {
  const auto set = core::SafetensorsSet::open(path);
  // parameters per group and dtype
  std::map<std::string, std::map<std::string, int64_t>> parameters;
  std::map<std::string, int64_t> tensors_per_group;
  int64_t total_parameters = 0, total_bytes = 0;
  for (const auto& name : set.names()) {
    const auto located = set.at(name);
    const auto& entry = *located.entry;
    const auto group = group_of(name);
    parameters[group][std::string(core::dtype_name(entry.dtype))] += entry.numel();
    tensors_per_group[group] += 1;
    total_parameters += entry.numel();
    total_bytes += static_cast<int64_t>(entry.nbytes);
  }
  nlohmann::json report;
  report["path"] = path;
  report["files"] = set.files().size();
  report["tensors"] = set.names().size();
  report["parameters"] = total_parameters;
  report["bytes"] = total_bytes;
  for (const auto& [group, by_dtype] : parameters) {
    report["groups"][group] = {{"tensors", tensors_per_group[group]}, {"parameters", by_dtype}};
  }
  report["metadata_keys"] = nlohmann::json::array();
  for (const auto& [key, value] : set.metadata()) report["metadata_keys"].push_back(key);
  if (const auto config = set.metadata().find("config"); config != set.metadata().end()) {
    const auto parsed = nlohmann::json::parse(config->second, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) report["config"] = config_summary(parsed);
  }
  if (as_json) {
    std::cout << core::json_text(report, 2) << std::endl;
    return 0;
  }
  std::cout << fmt::format("{}: {} tensors in {} file(s), {} parameters, {:.1f} MB\n", path,
                           set.names().size(), set.files().size(), total_parameters, total_bytes / 1e6);
  for (const auto& [group, by_dtype] : parameters) {
    std::string dtypes;
    for (const auto& [dtype, count] : by_dtype)
      dtypes += fmt::format("{}{} {}", dtypes.empty() ? "" : ", ", count, dtype);
    std::cout << fmt::format("  {:<40} {:>6} tensors  {}\n", group, tensors_per_group[group], dtypes);
  }
  std::cout << "metadata keys: " << report["metadata_keys"].size() << "\n";
  for (const auto& key : report["metadata_keys"]) std::cout << "  " << key.get<std::string>() << "\n";
  if (report.contains("config")) {
    std::cout << "config:\n";
    for (const auto& [section, line] : report["config"].items()) {
      std::cout << fmt::format("  {}: {}\n", section, line.get<std::string>());
    }
  }
  return 0;
}

Action add_inspect(CLI::App& command) {
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  command.add_option("FILE", *path, "a .safetensors file or a directory of shards")->required();
  command.add_flag("--json", *as_json, "print the report as JSON");
  return [path, as_json] { return inspect(*path, *as_json); };
}

const bool registered = register_command(
    {"inspect", "Print a .safetensors file's tensors, parameters by component and dtype, metadata and config",
     add_inspect});

}  // namespace
}  // namespace avtrain::cli
