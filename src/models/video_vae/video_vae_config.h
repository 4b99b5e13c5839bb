#pragma once
// The video VAE's configuration, read from the checkpoint's `config.vae` section with ltx-core's
// defaults and checks (specs/vae_audio.md §1.1). Only the conv VAE of LTX-2.3 is supported; any
// other value is refused with a message naming the key.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace avtrain::models {

// One entry of `encoder_blocks` / `decoder_blocks`: ["res_x", {"num_layers": 4}] or
// ["compress_all_res", {"multiplier": 2}].
struct VideoVaeBlock {
  std::string name;
  int64_t num_layers = 0;  // res_x
  int64_t multiplier = 1;  // compress_*: encoder default 2 (the *_res blocks), decoder default 1
  // Temporal / spatial stride of a compress block (1 for res_x).
  int64_t time_stride() const;
  int64_t space_stride() const;
};

struct VideoVaeConfig {
  int64_t in_channels = 3;        // pixels (RGB)
  int64_t out_channels = 3;       // decoded pixels
  int64_t latent_channels = 128;  // also the encoder's conv_in width (ltx-core VideoEncoder)
  int64_t patch_size = 4;
  int64_t decoder_base_channels = 128;
  std::vector<VideoVaeBlock> encoder_blocks, decoder_blocks;
  // "uniform" (N means + 1 shared log-variance), "per_channel" (2N) or "constant" (N + 1).
  std::string latent_log_var = "uniform";
  bool causal_decoder = false;
  double pixel_norm_eps = 1e-8;  // PixelNorm's eps in ltx-core (not a config key)

  // Not from the checkpoint: the most elements (batch x channels x frames x height x width) of one
  // convolution or normalization step. Larger activations are processed a few frames at a time, so
  // padded copies and conv workspaces never span the whole clip.
  int64_t chunk_elements = int64_t{1} << 26;

  // `config` is the checkpoint's parsed __metadata__["config"] (with its "vae" section).
  static VideoVaeConfig from_checkpoint(const nlohmann::json& config);
  // Parses __metadata__["config"] of `metadata`; `source` names the file in messages.
  static VideoVaeConfig from_metadata(const core::Metadata& metadata, const std::string& source);

  int64_t time_factor() const;           // pixel frames per latent frame step: 8 for LTX-2.3
  int64_t space_factor() const;          // pixels per latent cell: 32 for LTX-2.3
  int64_t encoder_out_channels() const;  // conv_out width: latent_channels + 1 for "uniform"
  // Width at the latent end of the decoder (specs §4.1): base x product of the compress multipliers.
  int64_t decoder_bottleneck_channels() const;
  std::string summary() const;  // one line for the log
};

}  // namespace avtrain::models
