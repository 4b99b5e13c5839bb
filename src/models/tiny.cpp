#include "models/tiny.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "models/audio/anti_aliased_activation.h"
#include "models/audio/audio_config.h"
#include "models/audio/audio_vae_decoder.h"
#include "models/audio/audio_vae_encoder.h"
#include "models/audio/mel_front_end.h"
#include "models/audio/vocoder.h"
#include "models/layers/weight_source.h"
#include "models/text/embeddings_processor.h"
#include "models/text/tiny_text.h"
#include "models/transformer/transformer_config.h"
#include "models/transformer/transformer_model.h"
#include "models/video_vae/video_vae_config.h"
#include "models/video_vae/video_vae_decoder.h"
#include "models/video_vae/video_vae_encoder.h"

namespace avtrain::models {
namespace {

namespace fs = std::filesystem;

// golden/README.md "Tiny config": the released LTX-2.3 config (every flag kept) with sizes shrunk.
// Stored as data because the golden files are not shipped to users. caption_channels is replaced in
// tiny_ltx_config() by the tiny Gemma's hidden size.
constexpr const char* kTinyConfigJson = R"json({
  "transformer": {
    "_class_name": "AVTransformer3DModel",
    "activation_fn": "gelu-approximate",
    "attention_bias": true,
    "attention_head_dim": 16,
    "attention_type": "default",
    "caption_channels": 24,
    "cross_attention_dim": 32,
    "double_self_attention": false,
    "dropout": 0.0,
    "in_channels": 8,
    "norm_elementwise_affine": false,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "num_attention_heads": 2,
    "num_embeds_ada_norm": 1000,
    "num_layers": 2,
    "num_vector_embeds": null,
    "only_cross_attention": false,
    "cross_attention_norm": true,
    "out_channels": 8,
    "upcast_attention": false,
    "use_linear_projection": false,
    "qk_norm": "rms_norm",
    "standardization_norm": "rms_norm",
    "positional_embedding_type": "rope",
    "positional_embedding_theta": 10000.0,
    "positional_embedding_max_pos": [20, 2048, 2048],
    "timestep_scale_multiplier": 1000,
    "av_ca_timestep_scale_multiplier": 1000.0,
    "causal_temporal_positioning": true,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8,
    "use_audio_video_cross_attention": true,
    "share_ff": false,
    "audio_out_channels": 32,
    "audio_cross_attention_dim": 16,
    "audio_positional_embedding_max_pos": [20],
    "av_cross_ada_norm": true,
    "use_embeddings_connector": true,
    "connector_attention_head_dim": 16,
    "connector_num_attention_heads": 2,
    "connector_num_layers": 2,
    "connector_positional_embedding_max_pos": [4096],
    "connector_num_learnable_registers": 128,
    "connector_norm_output": true,
    "use_middle_indices_grid": true,
    "apply_gated_attention": true,
    "connector_apply_gated_attention": true,
    "caption_projection_first_linear": false,
    "caption_projection_second_linear": false,
    "caption_proj_input_norm": false,
    "connector_learnable_registers_std": 1,
    "caption_proj_before_connector": true,
    "audio_connector_attention_head_dim": 8,
    "audio_connector_num_attention_heads": 2,
    "cross_attention_adaln": true,
    "text_encoder_norm_type": "per_token_rms",
    "rope_type": "split",
    "frequencies_precision": "float64",
    "audio_in_channels": 32
  },
  "vae": {
    "_class_name": "CausalVideoAutoencoder",
    "dims": 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 8,
    "encoder_blocks": [["res_x", {"num_layers": 2}],
      ["compress_space_res", {"multiplier": 2}],
      ["res_x", {"num_layers": 1}],
      ["compress_time_res", {"multiplier": 2}],
      ["res_x", {"num_layers": 1}],
      ["compress_all_res", {"multiplier": 2}],
      ["res_x", {"num_layers": 1}],
      ["compress_all_res", {"multiplier": 1}],
      ["res_x", {"num_layers": 1}]],
    "decoder_blocks": [["res_x", {"num_layers": 1}],
      ["compress_space", {"multiplier": 2}],
      ["res_x", {"num_layers": 1}],
      ["compress_time", {"multiplier": 2}],
      ["res_x", {"num_layers": 1}],
      ["compress_all", {"multiplier": 1}],
      ["res_x", {"num_layers": 1}],
      ["compress_all", {"multiplier": 2}],
      ["res_x", {"num_layers": 2}]],
    "scaling_factor": 1.0,
    "norm_layer": "pixel_norm",
    "patch_size": 4,
    "latent_log_var": "uniform",
    "use_quant_conv": false,
    "causal_decoder": false,
    "timestep_conditioning": false,
    "normalize_latent_channels": false,
    "encoder_base_channels": 8,
    "decoder_base_channels": 4,
    "spatial_padding_mode": "zeros"
  },
  "scheduler": {"_class_name": "RectifiedFlowScheduler", "_diffusers_version": "0.25.1", "num_train_timesteps": 1000, "shifting": null, "base_resolution": null, "sampler": "LinearQuadratic"},
  "audio_vae": {
    "model": {
      "params": {
        "ddconfig": {
          "double_z": true,
          "mel_bins": 64,
          "z_channels": 2,
          "resolution": 256,
          "downsample_time": false,
          "in_channels": 2,
          "out_ch": 2,
          "ch": 32,
          "ch_mult": [1, 1, 2],
          "num_res_blocks": 2,
          "attn_resolutions": [],
          "dropout": 0.0,
          "mid_block_add_attention": false,
          "norm_type": "pixel",
          "causality_axis": "height"
        },
        "sampling_rate": 16000
      }
    },
    "preprocessing": {
      "audio": {"sampling_rate": 16000, "max_wav_value": 32768.0, "duration": 5.12, "stereo": true, "causal_padding": 3},
      "stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": true},
      "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}
    }
  },
  "vocoder": {
    "vocoder": {"upsample_initial_channel": 32, "resblock": "AMP1", "upsample_rates": [5, 2], "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [11, 4], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": true, "use_tanh_at_final": false, "activation": "snakebeta", "use_bias_at_final": false},
    "bwe": {"upsample_initial_channel": 48, "resblock": "AMP1", "upsample_rates": [6, 2, 4], "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [12, 4, 8], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": true, "use_tanh_at_final": false, "activation": "snakebeta", "use_bias_at_final": false, "apply_final_activation": false, "input_sampling_rate": 16000, "output_sampling_rate": 48000, "hop_length": 16, "n_fft": 256, "win_size": 256, "num_mels": 64}
  }
})json";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Adds a module's tensors under their checkpoint keys. Modules register each tensor under its key
// segment, so a registered name n is the key P + n for one of the component's checkpoint prefixes
// (a shared part such as "per_channel_statistics" hangs off the parent prefix "vae."). Only keys the
// module took from `source` are checkpoint keys; anything else it registers (computed, non-persistent
// buffers) is skipped. A taken key the module did not register would be silently lost, so it throws.
void collect(torch::nn::Module& module, const WeightSource& source, const std::vector<std::string>& prefixes,
             const std::string& component, std::map<std::string, torch::Tensor>& tensors) {
  std::set<std::string> taken;
  for (const auto& [key, shape] : source.taken()) taken.insert(key);
  std::set<std::string> found;
  const auto add = [&](const std::string& name, const torch::Tensor& value) {
    for (const auto& prefix : prefixes) {
      const auto key = prefix + name;
      if (!taken.count(key)) continue;
      found.insert(key);
      tensors[key] = value.detach();
      return;
    }
  };
  for (const auto& item : module.named_parameters(/*recurse=*/true)) add(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) add(item.key(), item.value());
  std::vector<std::string> lost;
  for (const auto& key : taken) {
    if (!found.count(key)) lost.push_back(key);
  }
  if (!lost.empty()) {
    throw core::InternalError(fmt::format(
        "tiny model: the {} took {} tensor(s) it does not register under their key names (first: {}); the "
        "tiny checkpoint would lack them.",
        component, lost.size(), lost.front()));
  }
}

// tacotron-style STFT inverse basis (stored by the release, unused by inference): the pseudo-inverse
// of the scaled, unwindowed DFT rows, transposed, times the periodic Hann window.
torch::Tensor stft_inverse_basis(int64_t n_fft, int64_t hop_length) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto n = torch::arange(n_fft, f64);
  const auto k = torch::arange(n_fft / 2 + 1, f64).unsqueeze(1);
  const auto angle = 2 * M_PI * k * n / static_cast<double>(n_fft);
  const auto fourier = torch::cat({torch::cos(angle), -torch::sin(angle)}, 0);  // [n_fft + 2, n_fft]
  const double scale = static_cast<double>(n_fft) / static_cast<double>(hop_length);
  const auto window = torch::hann_window(n_fft, /*periodic=*/true, f64);
  const auto inverse = torch::linalg_pinv(fourier * scale).t() * window;  // [n_fft + 2, n_fft]
  return inverse.unsqueeze(1).to(torch::kFloat32);
}

// The vocoder buffers ltx-core computes (vae_audio.md §9.1-§9.2) instead of random draws.
void set_vocoder_buffers(const VocoderConfig& config, std::map<std::string, torch::Tensor>& tensors) {
  const auto filter = kaiser_sinc_filter(0.25, 0.3, 12);
  const auto bwe_hop = config.bwe_hop_length, n_fft = config.bwe_n_fft;
  for (auto& [key, value] : tensors) {
    if (key.rfind("vocoder.", 0) != 0) continue;
    if (ends_with(key, ".upsample.filter") || ends_with(key, ".downsample.lowpass.filter")) {
      if (value.sizes() != filter.sizes()) {
        throw core::InternalError(fmt::format("tiny model: {} has shape {}, expected the 12-tap filter [1, 1, 12]",
                                              key, fmt::join(value.sizes(), "x")));
      }
      value = filter.clone();
    }
  }
  tensors.at("vocoder.mel_stft.stft_fn.forward_basis") = hann_dft_basis(n_fft);
  tensors.at("vocoder.mel_stft.stft_fn.inverse_basis") = stft_inverse_basis(n_fft, bwe_hop);
  // Slaney mel filterbank over 0 .. input rate / 2 (the BWE mel runs on the 16 kHz waveform).
  tensors.at("vocoder.mel_stft.mel_basis") =
      slaney_mel_filterbank(n_fft / 2 + 1, 0.0, static_cast<double>(config.input_sampling_rate) / 2.0,
                            config.num_mels, config.input_sampling_rate)
          .t()
          .contiguous();
}

std::string unique_suffix() {
  static std::atomic<uint64_t> counter{0};
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return fmt::format("{}-{}-{}", static_cast<long>(::getpid()), now, counter++);
}

bool tiny_model_complete(const fs::path& directory) {
  return fs::is_regular_file(directory / kTinyCheckpointName) &&
         fs::is_regular_file(directory / kTinyGemmaDirName / "config.json") &&
         fs::is_regular_file(directory / kTinyGemmaDirName / "tokenizer.json") &&
         fs::is_regular_file(directory / kTinyGemmaDirName / "model.safetensors");
}

}  // namespace

nlohmann::json tiny_ltx_config() {
  auto config = nlohmann::json::parse(kTinyConfigJson);
  // The V2 feature extractor reads the Gemma hidden states (hidden x (layers + 1)) directly; the
  // checkpoint's caption_channels names that width (LTX-2.3: 3840 = Gemma 3 12B hidden size).
  config["transformer"]["caption_channels"] = text::tiny_gemma_config().hidden_size;
  return config;
}

core::NamedTensors tiny_ltx_checkpoint_tensors(uint64_t seed, torch::ScalarType dtype) {
  const auto config = tiny_ltx_config();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  std::map<std::string, torch::Tensor> tensors;
  torch::NoGradGuard no_grad;
  {
    const auto source = WeightSource::random(seed, "model.diffusion_model.", f32);
    TransformerModel model(source, TransformerConfig::from_checkpoint(config.at("transformer"), "tiny model"));
    collect(*model, source, {"model.diffusion_model."}, "transformer", tensors);
  }
  const auto video_config = VideoVaeConfig::from_checkpoint(config);
  {
    const auto source = WeightSource::random(seed, "", f32);
    VideoVaeEncoder encoder(source.at("vae").at("encoder"), source.at("vae").at("per_channel_statistics"),
                            video_config);
    collect(*encoder, source, {"vae.encoder.", "vae."}, "video VAE encoder", tensors);
  }
  {
    const auto source = WeightSource::random(seed, "", f32);
    VideoVaeDecoder decoder(source.at("vae").at("decoder"), source.at("vae").at("per_channel_statistics"),
                            video_config);
    collect(*decoder, source, {"vae.decoder.", "vae."}, "video VAE decoder", tensors);
  }
  const auto audio_config = AudioVaeConfig::from_checkpoint(config.at("audio_vae"));
  {
    const auto source = WeightSource::random(seed, "", f32);
    AudioVaeEncoder encoder(source.at("audio_vae").at("encoder"),
                            source.at("audio_vae").at("per_channel_statistics"), audio_config);
    collect(*encoder, source, {"audio_vae.encoder.", "audio_vae."}, "audio VAE encoder", tensors);
  }
  {
    const auto source = WeightSource::random(seed, "", f32);
    AudioVaeDecoder decoder(source.at("audio_vae").at("decoder"),
                            source.at("audio_vae").at("per_channel_statistics"), audio_config);
    collect(*decoder, source, {"audio_vae.decoder.", "audio_vae."}, "audio VAE decoder", tensors);
  }
  {
    const auto vocoder_config = VocoderConfig::from_checkpoint(config.at("vocoder"));
    const auto source = WeightSource::random(seed, "vocoder.", f32);
    Vocoder vocoder(source, vocoder_config);
    collect(*vocoder, source, {"vocoder."}, "vocoder", tensors);
    set_vocoder_buffers(vocoder_config, tensors);
  }
  const auto gemma = text::tiny_gemma_config();
  const auto text_config = text::EmbeddingsProcessorConfig::from_transformer_config(
      config.at("transformer"), gemma.hidden_size, gemma.num_hidden_layers, "tiny model");
  for (auto& [key, value] : text::tiny_text_checkpoint_tensors(text_config, seed, torch::kFloat32)) {
    if (tensors.count(key)) {
      throw core::InternalError(fmt::format("tiny model: key {} is written by two components", key));
    }
    tensors[key] = value;
  }

  core::NamedTensors out;
  out.reserve(tensors.size());
  for (auto& [key, value] : tensors) out.emplace_back(key, value.to(dtype).contiguous());
  return out;
}

void write_tiny_ltx_checkpoint(const fs::path& path, uint64_t seed) {
  const core::Metadata metadata{{"config", tiny_ltx_config().dump()}, {"model_version", kTinyModelVersion}};
  core::write_tensors(path, tiny_ltx_checkpoint_tensors(seed), metadata);
}

void write_tiny_model(const fs::path& directory, uint64_t seed) {
  fs::create_directories(directory);
  const auto staging = directory / (".tiny-model-partial-" + unique_suffix());
  fs::create_directories(staging);
  try {
    text::write_tiny_gemma_directory(staging / kTinyGemmaDirName, seed);
    write_tiny_ltx_checkpoint(staging / kTinyCheckpointName, seed);
    // A directory cannot replace a non-empty one by rename: remove the old text encoder first. The
    // checkpoint goes last (rename replaces the file atomically), so a present checkpoint means a
    // complete model.
    const auto gemma = directory / kTinyGemmaDirName;
    fs::remove(directory / kTinyCheckpointName);
    fs::remove_all(gemma);
    fs::rename(staging / kTinyGemmaDirName, gemma);
    fs::rename(staging / kTinyCheckpointName, directory / kTinyCheckpointName);
    fs::remove_all(staging);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
}

fs::path default_cache_dir() {
  if (const char* dir = std::getenv("AVTRAIN_CACHE_DIR"); dir && *dir) return fs::path(dir);
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "avtrain";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "avtrain";
  return fs::temp_directory_path() / "avtrain";
}

fs::path ensure_tiny_model(const fs::path& cache_dir) {
  // The folder name carries a version: a change to the tiny model's layout or draws bumps it, so an
  // old cached copy is not reused.
  const auto target = cache_dir / "tiny-model-v1";
  if (tiny_model_complete(target)) return target;
  auto& log = core::logger("models");
  log.info("generating the built-in tiny model in {}", target.string());
  try {
    fs::create_directories(cache_dir);
  } catch (const fs::filesystem_error& e) {
    throw core::InvalidInput(fmt::format("cannot create the cache folder {} for the tiny model ({}); set "
                                         "AVTRAIN_CACHE_DIR to a writable folder.",
                                         cache_dir.string(), e.code().message()));
  }
  const auto staging = cache_dir / (".tiny-model-v1-partial-" + unique_suffix());
  try {
    write_tiny_model(staging, 0);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  std::error_code error;
  if (fs::exists(target) && !tiny_model_complete(target)) fs::remove_all(target, error);  // damaged by hand
  fs::rename(staging, target, error);
  if (error) {
    // Another process finished first: keep its copy.
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    if (!tiny_model_complete(target)) {
      throw core::InvalidInput(fmt::format("cannot move the tiny model into {} ({}); set AVTRAIN_CACHE_DIR to a "
                                           "writable folder.",
                                           target.string(), error.message()));
    }
  }
  return target;
}

}  // namespace avtrain::models
