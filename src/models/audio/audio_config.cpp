#include "models/audio/audio_config.h"

#include <fmt/format.h>

#include <cfenv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace avtrain::models {
namespace {

using nlohmann::json;

// A JSON object with its path from the config root, for messages ("config.vocoder.bwe.hop_length").
class Section {
 public:
  Section(const json& value, std::string path) : value_(value), path_(std::move(path)) {
    if (!value_.is_object()) throw error("", fmt::format("is {}, expected an object", value_.dump()));
  }
  Section child(const std::string& key) const {
    if (!value_.contains(key)) throw missing(key);
    return Section(value_.at(key), path_ + "." + key);
  }
  bool has(const std::string& key) const { return value_.contains(key); }
  const json& raw(const std::string& key) const { return required(key); }

  int64_t integer(const std::string& key) const {
    const auto& v = required(key);
    if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())) {
      throw error(key, fmt::format("is {}, expected an integer", v.dump()));
    }
    return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
  }
  int64_t positive(const std::string& key) const {
    const auto value = integer(key);
    if (value <= 0) throw error(key, fmt::format("is {}, expected a positive integer", value));
    return value;
  }
  double number(const std::string& key) const {
    const auto& v = required(key);
    if (!v.is_number()) throw error(key, fmt::format("is {}, expected a number", v.dump()));
    return v.get<double>();
  }
  bool boolean_or(const std::string& key, bool fallback) const {
    if (!value_.contains(key)) return fallback;
    const auto& v = value_.at(key);
    if (!v.is_boolean()) throw error(key, fmt::format("is {}, expected true or false", v.dump()));
    return v.get<bool>();
  }
  std::string text_or(const std::string& key, const std::string& fallback) const {
    if (!value_.contains(key)) return fallback;
    const auto& v = value_.at(key);
    if (!v.is_string()) throw error(key, fmt::format("is {}, expected a string", v.dump()));
    return v.get<std::string>();
  }
  std::vector<int64_t> integers(const std::string& key) const {
    const auto& v = required(key);
    if (!v.is_array() || v.empty())
      throw error(key, fmt::format("is {}, expected a list of integers", v.dump()));
    std::vector<int64_t> values;
    for (const auto& item : v) {
      if (!item.is_number_integer() || item.get<int64_t>() <= 0) {
        throw error(key, fmt::format("is {}, expected a list of positive integers", v.dump()));
      }
      values.push_back(item.get<int64_t>());
    }
    return values;
  }
  std::vector<std::vector<int64_t>> integer_lists(const std::string& key) const {
    const auto& v = required(key);
    if (!v.is_array() || v.empty())
      throw error(key, fmt::format("is {}, expected a list of lists", v.dump()));
    std::vector<std::vector<int64_t>> values;
    for (const auto& row : v) {
      if (!row.is_array() || row.empty())
        throw error(key, fmt::format("is {}, expected a list of lists", v.dump()));
      auto& out = values.emplace_back();
      for (const auto& item : row) {
        if (!item.is_number_integer() || item.get<int64_t>() <= 0) {
          throw error(key, fmt::format("is {}, expected lists of positive integers", v.dump()));
        }
        out.push_back(item.get<int64_t>());
      }
    }
    return values;
  }

  core::InvalidInput error(const std::string& key, const std::string& what) const {
    return core::InvalidInput(
        fmt::format("checkpoint config: {}{} {}", path_, key.empty() ? "" : "." + key, what));
  }
  core::InvalidInput unsupported(const std::string& key, const std::string& found,
                                 const std::string& why) const {
    return error(key, fmt::format("is {}; {}. Use an LTX-2.3 checkpoint.", found, why));
  }

 private:
  const json& required(const std::string& key) const {
    if (!value_.contains(key)) throw missing(key);
    return value_.at(key);
  }
  core::InvalidInput missing(const std::string& key) const {
    return core::InvalidInput(
        fmt::format("checkpoint config: {}.{} is missing; the file's config does not describe an LTX-2.3 "
                    "model (re-download it)",
                    path_, key));
  }

  const json& value_;
  std::string path_;
};

VocoderGeneratorConfig read_generator(const Section& s, int64_t in_channels) {
  // ltx-core builds the AMP1 + SnakeBeta path (BigVGAN-v2) for LTX-2.3; resblock "1" is LTX-2.0's HiFi-GAN.
  if (const auto resblock = s.text_or("resblock", "1"); resblock != "AMP1") {
    throw s.unsupported("resblock", '"' + resblock + '"',
                        "avtrain implements the BigVGAN-v2 \"AMP1\" blocks only");
  }
  if (const auto activation = s.text_or("activation", "snake"); activation != "snakebeta") {
    throw s.unsupported("activation", '"' + activation + '"', "avtrain implements \"snakebeta\" only");
  }
  if (!s.boolean_or("stereo", false)) {
    throw s.unsupported("stereo", "false", "avtrain implements the stereo vocoder only");
  }
  VocoderGeneratorConfig config;
  config.in_channels = in_channels;
  config.upsample_initial_channel = s.positive("upsample_initial_channel");
  config.upsample_rates = s.integers("upsample_rates");
  config.upsample_kernel_sizes = s.integers("upsample_kernel_sizes");
  config.resblock_kernel_sizes = s.integers("resblock_kernel_sizes");
  config.resblock_dilation_sizes = s.integer_lists("resblock_dilation_sizes");
  config.use_tanh_at_final = s.boolean_or("use_tanh_at_final", true);
  config.apply_final_activation = s.boolean_or("apply_final_activation", true);
  config.use_bias_at_final = s.boolean_or("use_bias_at_final", true);
  if (config.upsample_rates.size() != config.upsample_kernel_sizes.size()) {
    throw s.error("upsample_kernel_sizes",
                  fmt::format("has {} entries but upsample_rates has {}; they pair up",
                              config.upsample_kernel_sizes.size(), config.upsample_rates.size()));
  }
  if (config.resblock_dilation_sizes.size() != config.resblock_kernel_sizes.size()) {
    throw s.error("resblock_dilation_sizes",
                  fmt::format("has {} entries but resblock_kernel_sizes has {}",
                              config.resblock_dilation_sizes.size(), config.resblock_kernel_sizes.size()));
  }
  for (size_t i = 0; i < config.upsample_rates.size(); ++i) {
    const auto k = config.upsample_kernel_sizes[i], r = config.upsample_rates[i];
    // Padding (k - r) / 2 keeps L -> L * r only when k - r is even and non-negative.
    if (k < r || (k - r) % 2 != 0) {
      throw s.error("upsample_kernel_sizes",
                    fmt::format("entry {} is {} with rate {}: kernel - rate must be even and "
                                ">= 0 for an exact x{} upsampling",
                                i, k, r, r));
    }
    if ((config.upsample_initial_channel >> (i + 1)) == 0) {
      throw s.error("upsample_initial_channel",
                    fmt::format("is {}, too small to halve {} times", config.upsample_initial_channel,
                                config.upsample_rates.size()));
    }
  }
  for (const auto k : config.resblock_kernel_sizes) {
    if (k % 2 == 0)
      throw s.error("resblock_kernel_sizes", fmt::format("holds {}; the AMP blocks need odd kernels", k));
  }
  return config;
}

}  // namespace

int64_t VocoderGeneratorConfig::total_upsampling() const {
  int64_t total = 1;
  for (const auto r : upsample_rates) total *= r;
  return total;
}

AudioVaeConfig AudioVaeConfig::from_checkpoint(const json& root) {
  const Section section(root, "audio_vae");
  const auto model = section.child("model");
  const auto params = model.child("params");
  const auto dd = params.child("ddconfig");
  AudioVaeConfig config;
  config.ch = dd.positive("ch");
  config.ch_mult = dd.integers("ch_mult");
  config.num_res_blocks = dd.positive("num_res_blocks");
  config.z_channels = dd.positive("z_channels");
  config.in_channels = dd.positive("in_channels");
  config.out_ch = dd.positive("out_ch");
  config.mel_bins = dd.positive("mel_bins");
  config.double_z = dd.boolean_or("double_z", true);
  if (const auto norm = dd.text_or("norm_type", "group"); norm != "pixel") {
    throw dd.unsupported("norm_type", '"' + norm + '"',
                         "avtrain implements the \"pixel\" norm of LTX-2.3 only");
  }
  if (const auto axis = dd.text_or("causality_axis", "none"); axis != "height") {
    throw dd.unsupported("causality_axis", '"' + axis + '"',
                         "avtrain implements convs causal in time (\"height\") only");
  }
  // ltx-core defaults to mid-block attention, which LTX-2.3 turns off and avtrain does not implement.
  if (dd.boolean_or("mid_block_add_attention", true)) {
    throw dd.unsupported("mid_block_add_attention", "true (or absent)",
                         "avtrain implements the attention-free audio VAE only");
  }
  // Attention at a level happens when its resolution (halved per level from `resolution`) is listed.
  std::vector<int64_t> attention_resolutions = {8, 16, 32};  // ltx-core's default when absent
  if (dd.has("attn_resolutions")) {
    const auto& listed = dd.raw("attn_resolutions");
    attention_resolutions.clear();
    if (!listed.is_array())
      throw dd.error("attn_resolutions", fmt::format("is {}, expected a list", listed.dump()));
    for (const auto& item : listed) {
      if (!item.is_number_integer())
        throw dd.error("attn_resolutions", fmt::format("is {}, expected integers", listed.dump()));
      attention_resolutions.push_back(item.get<int64_t>());
    }
  }
  int64_t resolution = dd.positive("resolution");
  for (int64_t level = 0; level < config.num_levels(); ++level) {
    for (const auto r : attention_resolutions) {
      if (r == resolution) {
        throw dd.unsupported("attn_resolutions", std::to_string(r),
                             "it puts attention into the audio VAE, which avtrain does not implement");
      }
    }
    if (level + 1 < config.num_levels()) resolution /= 2;
  }
  if (config.in_channels != 2 || config.out_ch != 2) {
    throw dd.unsupported("in_channels", fmt::format("{} (out_ch {})", config.in_channels, config.out_ch),
                         "the audio VAE takes and gives stereo (2 channels)");
  }
  if (config.mel_bins % config.downsample_factor() != 0) {
    throw dd.error("mel_bins", fmt::format("is {}, not divisible by the VAE's downsampling {}",
                                           config.mel_bins, config.downsample_factor()));
  }
  config.sample_rate = params.positive("sampling_rate");
  const auto stft = section.child("preprocessing").child("stft");
  config.n_fft = stft.positive("filter_length");
  config.hop_length = stft.positive("hop_length");
  if (stft.has("win_length") && stft.integer("win_length") != config.n_fft) {
    throw stft.unsupported("win_length", std::to_string(stft.integer("win_length")),
                           "the front end uses a window as long as filter_length");
  }
  if (section.child("preprocessing").has("mel")) {
    const auto mel = section.child("preprocessing").child("mel");
    if (mel.has("n_mel_channels") && mel.integer("n_mel_channels") != config.mel_bins) {
      throw mel.error("n_mel_channels", fmt::format("is {} but ddconfig.mel_bins is {}",
                                                    mel.integer("n_mel_channels"), config.mel_bins));
    }
  }
  return config;
}

VocoderConfig VocoderConfig::from_checkpoint(const json& root) {
  const Section section(root, "vocoder");
  if (!section.has("bwe") || !section.has("vocoder")) {
    throw section.unsupported(
        "bwe", "absent",
        "this is LTX-2.0's 24 kHz HiFi-GAN vocoder; avtrain implements LTX-2.3's BigVGAN-v2 "
        "vocoder with bandwidth extension to 48 kHz");
  }
  const auto bwe = section.child("bwe");
  VocoderConfig config;
  config.num_mels = bwe.positive("num_mels");
  config.input_sampling_rate = bwe.positive("input_sampling_rate");
  config.output_sampling_rate = bwe.positive("output_sampling_rate");
  config.bwe_hop_length = bwe.positive("hop_length");
  config.bwe_n_fft = bwe.positive("n_fft");
  if (bwe.has("win_size") && bwe.integer("win_size") != config.bwe_n_fft) {
    throw bwe.unsupported("win_size", std::to_string(bwe.integer("win_size")),
                          "the BWE STFT window must equal n_fft");
  }
  if (config.output_sampling_rate != 3 * config.input_sampling_rate) {
    throw bwe.unsupported(
        "output_sampling_rate",
        fmt::format("{} (input {})", config.output_sampling_rate, config.input_sampling_rate),
        "the bandwidth extension's resampler is x3 (16 kHz -> 48 kHz)");
  }
  if (config.bwe_n_fft < config.bwe_hop_length) {
    throw bwe.error(
        "n_fft", fmt::format("is {}, shorter than hop_length {}", config.bwe_n_fft, config.bwe_hop_length));
  }
  config.vocoder = read_generator(section.child("vocoder"), 2 * config.num_mels);
  config.bwe = read_generator(bwe, 2 * config.num_mels);
  if (config.bwe.total_upsampling() != config.resample_ratio() * config.bwe_hop_length) {
    throw bwe.error("upsample_rates",
                    fmt::format("multiply to {}, but one BWE frame (hop {}) spans {} output samples",
                                config.bwe.total_upsampling(), config.bwe_hop_length,
                                config.resample_ratio() * config.bwe_hop_length));
  }
  return config;
}

json checkpoint_config_section(const core::SafetensorsSet& set, const std::string& name) {
  const auto& metadata = set.metadata();
  const auto it = metadata.find("config");
  if (it == metadata.end()) {
    throw core::InvalidInput(
        fmt::format("{}: the safetensors metadata has no \"config\" entry; it is not a unified "
                    "LTX-2.3 checkpoint (use ltx-2.3-22b-dev.safetensors or similar)",
                    set.description()));
  }
  json config;
  try {
    config = json::parse(it->second);
  } catch (const json::exception& e) {
    throw core::InvalidInput(
        fmt::format("{}: the metadata \"config\" is not valid JSON ({}); re-download the file",
                    set.description(), e.what()));
  }
  if (!config.is_object() || !config.contains(name)) {
    throw core::InvalidInput(
        fmt::format("{}: the metadata config has no \"{}\" section; the file does not hold the "
                    "LTX-2.3 audio components (use the unified ltx-2.3 checkpoint)",
                    set.description(), name));
  }
  return config.at(name);
}

int64_t audio_latent_frames(int64_t frames, double fps, double latents_per_second) {
  if (frames < 0 || !(fps > 0)) {
    throw core::InvalidInput(fmt::format(
        "audio latent length: {} frames at {} fps; frames must be >= 0 and fps > 0", frames, fps));
  }
  // Python: round(frames / fps * latents_per_second); std::nearbyint rounds half to even under the
  // default rounding mode, which we make sure of.
  const double duration = static_cast<double>(frames) / fps;
  const int saved = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double rounded = std::nearbyint(duration * latents_per_second);
  std::fesetround(saved);
  return static_cast<int64_t>(rounded);
}

}  // namespace avtrain::models
