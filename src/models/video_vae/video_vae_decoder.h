#pragma once
// The LTX-2.3 video VAE decoder (specs/vae_audio.md §4; ltx-core ConvVideoDecoder), untiled and tiled.
//
//   latent [B, 128, F, h, w] -> un_normalize -> conv_in -> up_blocks (reversed decoder_blocks:
//   res_x / compress_* depth-to-space, non-causal) -> silu(pixel_norm) -> conv_out -> unpatchify(4)
//   -> video [B, 3, 8(F - 1) + 1, 32h, 32w], about [-1, 1].
//
// Keys: "vae.decoder.*" and "vae.per_channel_statistics.{mean-of-means,std-of-means}".

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <memory>
#include <vector>

#include "core/safetensors.h"
#include "models/layers/weight_source.h"
#include "models/video_vae/causal_conv3d.h"
#include "models/video_vae/per_channel_statistics.h"
#include "models/video_vae/resampling.h"
#include "models/video_vae/resnet_block_3d.h"
#include "models/video_vae/video_vae_config.h"
#include "models/video_vae/video_vae_tiling.h"

namespace avtrain::models {

class VideoVaeDecoderImpl : public torch::nn::Module {
 public:
  // `decoder` is the source at "vae.decoder.", `statistics` at "vae.per_channel_statistics.".
  VideoVaeDecoderImpl(const WeightSource& decoder, const WeightSource& statistics, VideoVaeConfig config);

  // latent [B, C, F, h, w] (normalized) -> video [B, 3, 8(F-1)+1, 32h, 32w] in the latent's dtype,
  // computed in the weights' dtype on their device. Throws core::InvalidInput on a wrong shape.
  torch::Tensor decode(const torch::Tensor& latent);
  torch::Tensor forward(const torch::Tensor& latent) { return decode(latent); }

  // Tiled decode (ltx-core's tiled_decode): each tile decoded as an independent clip and blended
  // with trapezoidal ramps. `on_frames` receives consecutive, final pixel frames [B, 3, n, H, W] one
  // temporal tile group at a time (frame order, covering all 8(F-1)+1 frames once).
  void decode_tiled(const torch::Tensor& latent, const TilingOptions& tiling,
                    const std::function<void(const torch::Tensor& frames)>& on_frames);
  // The same, assembled into one video tensor.
  torch::Tensor decode_tiled(const torch::Tensor& latent, const TilingOptions& tiling = {});

  const VideoVaeConfig config;
  CausalConv3d conv_in{nullptr}, conv_out{nullptr};
  // up_blocks.{i}: exactly one of the two is set per block.
  struct UpBlock {
    UnetMidBlock3D res{nullptr};
    DepthToSpaceUpsample upsample{nullptr};
  };
  std::vector<UpBlock> up_blocks;
  PerChannelStatistics per_channel_statistics{nullptr};

 private:
  void check_latent(const torch::Tensor& latent, const char* what) const;
};
TORCH_MODULE(VideoVaeDecoder);

// Builds the decoder from a checkpoint: config from its metadata, weights from "vae.decoder." and
// "vae.per_channel_statistics." converted to `options`. Throws core::InvalidInput listing every
// missing key or wrong shape.
VideoVaeDecoder load_video_vae_decoder(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                       torch::TensorOptions options);

}  // namespace avtrain::models
