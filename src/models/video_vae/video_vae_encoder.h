#pragma once
// The LTX-2.3 video VAE encoder (specs/vae_audio.md §3; ltx-core VideoEncoder), untiled and tiled.
//
//   video [B, 3, F, H, W] in [-1, 1], (F - 1) % 8 == 0, H and W multiples of 32
//   -> patchify(4) -> conv_in -> down_blocks (res_x / compress_*_res, all causal)
//   -> silu(pixel_norm) -> conv_out -> the first latent_channels channels (the means)
//   -> normalize with the per-channel statistics: latent [B, 128, 1 + (F - 1)/8, H/32, W/32].
// No sampling: the log-variance channel is discarded (§3.2).
//
// Keys: "vae.encoder.*" and "vae.per_channel_statistics.{mean-of-means,std-of-means}".

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

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

class VideoVaeEncoderImpl : public torch::nn::Module {
 public:
  // `encoder` is the source at "vae.encoder.", `statistics` at "vae.per_channel_statistics.".
  VideoVaeEncoderImpl(const WeightSource& encoder, const WeightSource& statistics, VideoVaeConfig config);

  // video [B, 3, F, H, W] in [-1, 1] -> normalized latent means [B, C, 1 + (F-1)/8, H/32, W/32], in the
  // weights' dtype and device. Throws core::InvalidInput when F, H or W break the frame/size rules.
  torch::Tensor encode(const torch::Tensor& video);
  torch::Tensor forward(const torch::Tensor& video) { return encode(video); }
  // The same through overlapping tiles blended with trapezoidal ramps (ltx-core's tiled_encode); an
  // axis no longer than one tile is not split. `video` may stay on the CPU: tiles move to the weights.
  torch::Tensor encode_tiled(const torch::Tensor& video, const TilingOptions& tiling = {});

  const VideoVaeConfig config;
  CausalConv3d conv_in{nullptr}, conv_out{nullptr};
  // down_blocks.{i}: exactly one of the two is set per block.
  struct DownBlock {
    UnetMidBlock3D res{nullptr};
    SpaceToDepthDownsample downsample{nullptr};
  };
  std::vector<DownBlock> down_blocks;
  PerChannelStatistics per_channel_statistics{nullptr};

 private:
  // Checks the frame and size rules; `what` names the call in messages.
  void check_video(const torch::Tensor& video, const char* what) const;
};
TORCH_MODULE(VideoVaeEncoder);

// Builds the encoder from a checkpoint: config from its metadata, weights from "vae.encoder." and
// "vae.per_channel_statistics." converted to `options` (dtype, device). Throws core::InvalidInput
// listing every missing key or wrong shape.
VideoVaeEncoder load_video_vae_encoder(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                       torch::TensorOptions options);

}  // namespace avtrain::models
