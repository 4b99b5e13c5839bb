#include "models/video_vae/video_vae_config.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace avtrain::models {
namespace {

constexpr const char* kFixHint =
    "avtrain implements the LTX-2.3 conv video VAE (CausalVideoAutoencoder) only";

core::InvalidInput refused(const std::string& key, const nlohmann::json& value, const std::string& why) {
  return core::InvalidInput(
      fmt::format("checkpoint config: vae.{} is {}: {}; {}.", key, value.dump(), why, kFixHint));
}

template <typename T>
T get_or(const nlohmann::json& section, const char* key, T fallback) {
  const auto it = section.find(key);
  if (it == section.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw refused(key, *it, "it has the wrong type");
  }
}

// ["name", {"num_layers": n}] or ["name", n] (ltx-core accepts both); multiplier defaults as ltx-core's
// block factories: 2 for the encoder's *_res blocks, 1 for the decoder's compress_* blocks.
std::vector<VideoVaeBlock> parse_blocks(const nlohmann::json& section, const char* key,
                                        const std::set<std::string>& supported, int64_t default_multiplier) {
  const auto it = section.find(key);
  if (it == section.end() || !it->is_array() || it->empty()) {
    throw refused(key, it == section.end() ? nlohmann::json() : *it,
                  "a non-empty list of blocks is required");
  }
  std::vector<VideoVaeBlock> blocks;
  for (size_t index = 0; index < it->size(); ++index) {
    const auto& entry = (*it)[index];
    const auto where = fmt::format("{}[{}]", key, index);
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string()) {
      throw refused(where, entry, "expected [\"block_name\", {parameters}]");
    }
    VideoVaeBlock block;
    block.name = entry[0].get<std::string>();
    if (!supported.count(block.name)) {
      throw refused(where, entry, fmt::format("block type '{}' is not supported here", block.name));
    }
    const auto& params = entry[1];
    if (params.is_number_integer()) {
      block.num_layers = params.get<int64_t>();
    } else if (params.is_object()) {
      if (get_or<bool>(params, "inject_noise", false))
        throw refused(where, entry, "noise injection is not supported");
      if (get_or<bool>(params, "residual", false))
        throw refused(where, entry, "residual upsamplers are not supported");
      block.num_layers = get_or<int64_t>(params, "num_layers", 0);
      block.multiplier = get_or<int64_t>(params, "multiplier", default_multiplier);
    } else {
      throw refused(where, entry, "the parameters must be an object or an integer");
    }
    if (block.name == "res_x" && block.num_layers < 1)
      throw refused(where, entry, "num_layers must be at least 1");
    if (block.name != "res_x") {
      block.num_layers = 0;
      if (block.multiplier < 1) throw refused(where, entry, "multiplier must be at least 1");
    } else {
      block.multiplier = 1;
    }
    blocks.push_back(block);
  }
  return blocks;
}

bool contains(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

}  // namespace

int64_t VideoVaeBlock::time_stride() const {
  return contains(name, "compress_time") || contains(name, "compress_all") ? 2 : 1;
}
int64_t VideoVaeBlock::space_stride() const {
  return contains(name, "compress_space") || contains(name, "compress_all") ? 2 : 1;
}

VideoVaeConfig VideoVaeConfig::from_checkpoint(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("vae") || !config["vae"].is_object()) {
    throw core::InvalidInput(
        "checkpoint config: the \"vae\" section is missing; the file is not an LTX-2.3 checkpoint with a "
        "video VAE.");
  }
  const auto& vae = config["vae"];
  VideoVaeConfig c;
  // The checks and defaults of ltx-core's VideoEncoderConfigurator / VideoDecoderConfigurator.
  const auto class_name = get_or<std::string>(vae, "_class_name", "CausalVideoAutoencoder");
  if (class_name != "CausalVideoAutoencoder") {
    throw refused("_class_name", class_name,
                  "only the conv VAE is supported (not the diffusion VAE of LTX-2.4+)");
  }
  if (const auto dims = get_or<int64_t>(vae, "dims", 3); dims != 3)
    throw refused("dims", dims, "3-D convolutions are required");
  if (const auto norm = get_or<std::string>(vae, "norm_layer", "pixel_norm"); norm != "pixel_norm") {
    throw refused("norm_layer", norm, "only pixel_norm is supported");
  }
  // ltx-core defaults timestep_conditioning to true; LTX-2.3 sets false (specs §1.1, §4.5).
  if (get_or<bool>(vae, "timestep_conditioning", true)) {
    throw refused("timestep_conditioning", vae.value("timestep_conditioning", nlohmann::json(true)),
                  "the timestep-conditioned decoder (LTX-Video 0.9.x) is not supported");
  }
  // The decoder's default is "reflect", the encoder's "zeros"; both read this one key.
  const auto padding = get_or<std::string>(vae, "spatial_padding_mode", "reflect");
  if (padding != "zeros")
    throw refused("spatial_padding_mode", padding, "only zero spatial padding is supported");
  c.latent_log_var = get_or<std::string>(vae, "latent_log_var", "uniform");
  if (c.latent_log_var != "uniform" && c.latent_log_var != "per_channel" && c.latent_log_var != "constant") {
    throw refused("latent_log_var", c.latent_log_var, "expected uniform, per_channel or constant");
  }
  c.in_channels = get_or<int64_t>(vae, "in_channels", 3);
  c.out_channels = get_or<int64_t>(vae, "out_channels", 3);
  c.latent_channels = get_or<int64_t>(vae, "latent_channels", 128);
  c.patch_size = get_or<int64_t>(vae, "patch_size", 4);
  c.decoder_base_channels = get_or<int64_t>(vae, "decoder_base_channels", 128);
  c.causal_decoder = get_or<bool>(vae, "causal_decoder", false);
  for (const auto& [key, value] :
       {std::pair{"in_channels", c.in_channels}, std::pair{"out_channels", c.out_channels},
        std::pair{"latent_channels", c.latent_channels}, std::pair{"patch_size", c.patch_size},
        std::pair{"decoder_base_channels", c.decoder_base_channels}}) {
    if (value < 1) throw refused(key, value, "a positive integer is required");
  }
  c.encoder_blocks = parse_blocks(
      vae, "encoder_blocks", {"res_x", "compress_space_res", "compress_time_res", "compress_all_res"}, 2);
  c.decoder_blocks =
      parse_blocks(vae, "decoder_blocks", {"res_x", "compress_space", "compress_time", "compress_all"}, 1);
  // Channel arithmetic must come out whole (SpaceToDepthDownsample / DepthToSpaceUpsample, specs §2.7-2.8).
  int64_t width = c.latent_channels;
  for (size_t index = 0; index < c.encoder_blocks.size(); ++index) {
    const auto& block = c.encoder_blocks[index];
    if (block.name == "res_x") continue;
    const int64_t stride = block.time_stride() * block.space_stride() * block.space_stride();
    const int64_t out = width * block.multiplier;
    if (out % stride != 0 || (width * stride) % out != 0) {
      throw refused(fmt::format("encoder_blocks[{}]", index), block.multiplier,
                    fmt::format("{} channels x {} do not split into {} sub-positions", width,
                                block.multiplier, stride));
    }
    width = out;
  }
  width = c.decoder_bottleneck_channels();
  for (auto it = c.decoder_blocks.rbegin(); it != c.decoder_blocks.rend(); ++it) {
    if (it->name == "res_x") continue;
    if (width % it->multiplier != 0) {
      throw refused("decoder_blocks", it->multiplier,
                    fmt::format("{} channels are not divisible by it", width));
    }
    width /= it->multiplier;
  }
  if (c.time_factor() != [&] {
        int64_t f = 1;
        for (const auto& b : c.decoder_blocks) f *= b.time_stride();
        return f;
      }()) {
    throw refused("decoder_blocks", vae["decoder_blocks"],
                  "its temporal upsampling does not mirror encoder_blocks");
  }
  return c;
}

VideoVaeConfig VideoVaeConfig::from_metadata(const core::Metadata& metadata, const std::string& source) {
  const auto it = metadata.find("config");
  if (it == metadata.end()) {
    throw core::InvalidInput(fmt::format(
        "{}: the file has no \"config\" metadata; the video VAE is built from it. Use the original LTX-2.3 "
        "checkpoint (e.g. ltx-2.3-22b-dev.safetensors).",
        source));
  }
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& error) {
    throw core::InvalidInput(fmt::format(
        "{}: the \"config\" metadata is not valid JSON ({}); re-download the file.", source, error.what()));
  }
  try {
    return from_checkpoint(config);
  } catch (const core::Error& error) {
    throw core::InvalidInput(fmt::format("{}: {}", source, error.what()));
  }
}

int64_t VideoVaeConfig::time_factor() const {
  int64_t factor = 1;
  for (const auto& block : encoder_blocks) factor *= block.time_stride();
  return factor;
}

int64_t VideoVaeConfig::space_factor() const {
  int64_t factor = patch_size;
  for (const auto& block : encoder_blocks) factor *= block.space_stride();
  return factor;
}

int64_t VideoVaeConfig::encoder_out_channels() const {
  return latent_log_var == "per_channel" ? 2 * latent_channels : latent_channels + 1;
}

int64_t VideoVaeConfig::decoder_bottleneck_channels() const {
  int64_t width = decoder_base_channels;
  for (const auto& block : decoder_blocks) width *= block.multiplier;  // res_x carries multiplier 1
  return width;
}

std::string VideoVaeConfig::summary() const {
  int64_t encoder_resnets = 0, decoder_resnets = 0;
  for (const auto& block : encoder_blocks) encoder_resnets += block.num_layers;
  for (const auto& block : decoder_blocks) decoder_resnets += block.num_layers;
  return fmt::format(
      "video VAE: {} latent channels, /{} space, /{} time, encoder {} blocks ({} resnets), decoder {} "
      "blocks ({} resnets, bottleneck {}, {})",
      latent_channels, space_factor(), time_factor(), encoder_blocks.size(), encoder_resnets,
      decoder_blocks.size(), decoder_resnets, decoder_bottleneck_channels(),
      causal_decoder ? "causal" : "non-causal");
}

}  // namespace avtrain::models
