#include "models/video_vae/video_vae_encoder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <string>
#include <tuple>

#include "core/error.h"
#include "core/log.h"
#include "models/video_vae/pixel_norm.h"
#include "models/video_vae/space_to_depth.h"

namespace avtrain::models {

VideoVaeEncoderImpl::VideoVaeEncoderImpl(const WeightSource& w, const WeightSource& statistics,
                                         VideoVaeConfig c)
    : config(std::move(c)) {
  const int64_t chunk = config.chunk_elements;
  // ltx-core's VideoEncoder uses latent_channels as conv_in's width (encoder_base_channels is unused).
  int64_t width = config.latent_channels;
  conv_in = register_module(
      "conv_in", CausalConv3d(w.at("conv_in"),
                              CausalConv3dOptions{config.in_channels * config.patch_size * config.patch_size,
                                                  width, chunk}));
  auto list = register_module("down_blocks", torch::nn::ModuleList());
  const auto blocks = w.at("down_blocks");
  for (size_t index = 0; index < config.encoder_blocks.size(); ++index) {
    const auto& block = config.encoder_blocks[index];
    const auto source = blocks.at(std::to_string(index));
    DownBlock down;
    if (block.name == "res_x") {
      down.res =
          UnetMidBlock3D(source, ResnetBlock3DOptions{width, config.pixel_norm_eps, chunk}, block.num_layers);
      list->push_back(down.res);
    } else {
      const ResamplingOptions options{width, width * block.multiplier, block.time_stride(),
                                      block.space_stride(), chunk};
      down.downsample = SpaceToDepthDownsample(source, options);
      list->push_back(down.downsample);
      width = options.out_channels;
    }
    down_blocks.push_back(down);
  }
  conv_out = register_module(
      "conv_out",
      CausalConv3d(w.at("conv_out"), CausalConv3dOptions{width, config.encoder_out_channels(), chunk}));
  per_channel_statistics =
      register_module("per_channel_statistics", PerChannelStatistics(statistics, config.latent_channels));
}

void VideoVaeEncoderImpl::check_video(const torch::Tensor& video, const char* what) const {
  if (video.dim() != 5 || video.size(1) != config.in_channels) {
    throw core::InvalidInput(
        fmt::format("{}: the video has shape {}; expected [batch, {}, frames, height, width].", what,
                    fmt::join(video.sizes(), "x"), config.in_channels));
  }
  const int64_t frames = video.size(2), height = video.size(3), width = video.size(4);
  const int64_t t = config.time_factor(), s = config.space_factor();
  if (frames < 1 || (frames - 1) % t != 0) {
    const int64_t below = frames < 1 ? 1 : frames - (frames - 1) % t;
    throw core::InvalidInput(fmt::format(
        "{}: the video has {} frames; the encoder takes {}k+1 frames (1, {}, {}, ...). Use {} or {} frames.",
        what, frames, t, t + 1, 2 * t + 1, below, below + t));
  }
  if (height < s || width < s || height % s != 0 || width % s != 0) {
    throw core::InvalidInput(fmt::format(
        "{}: the video is {}x{} (width x height); both sides must be positive multiples of {} pixels.", what,
        width, height, s));
  }
}

torch::Tensor VideoVaeEncoderImpl::encode(const torch::Tensor& video) {
  check_video(video, "video VAE encode");
  const torch::NoGradGuard no_grad;  // frozen model; the blocks normalize and add in place
  auto x = patchify(video.to(conv_in->weight.options()), config.patch_size);
  x = conv_in(x, /*causal=*/true);
  for (auto& block : down_blocks) {
    x = block.res ? block.res->forward(std::move(x), true) : block.downsample->forward(std::move(x), true);
  }
  pixel_norm_silu_in_place(x, config.pixel_norm_eps, config.chunk_elements);
  x = conv_out(x, /*causal=*/true);
  // uniform / constant: N means + 1 log-variance channel; per_channel: N means + N log-variances.
  const auto means = x.narrow(1, 0, config.latent_channels);
  return per_channel_statistics->normalize(means);
}

torch::Tensor VideoVaeEncoderImpl::encode_tiled(const torch::Tensor& video, const TilingOptions& tiling) {
  check_video(video, "video VAE tiled encode");
  const torch::NoGradGuard no_grad;
  const int64_t t = config.time_factor(), s = config.space_factor();
  const int64_t batch = video.size(0);
  const std::vector<int64_t> latent_size{(video.size(2) - 1) / t + 1, video.size(3) / s, video.size(4) / s};
  const auto t_tiles = split_latent_axis(tiling.frames, t, latent_size[0], true, TilingUse::encode, "frames");
  const auto h_tiles =
      split_latent_axis(tiling.height, s, latent_size[1], false, TilingUse::encode, "height");
  const auto w_tiles = split_latent_axis(tiling.width, s, latent_size[2], false, TilingUse::encode, "width");
  // Masks in latent units: the temporal ramp starts from 0 (a causal tile's first latent is only
  // approximate).
  const auto latent_masks = [](const std::vector<TileInterval>& tiles, bool temporal) {
    std::vector<PixelSpan> spans;
    for (const auto& iv : tiles) {
      spans.push_back(
          {iv.start, iv.end, trapezoidal_mask(iv.end - iv.start, iv.left_ramp, iv.right_ramp, temporal)});
    }
    return spans;
  };
  const std::vector<std::vector<PixelSpan>> masks{latent_masks(t_tiles, true), latent_masks(h_tiles, false),
                                                  latent_masks(w_tiles, false)};
  const bool complementary = masks_are_complementary(masks, latent_size);
  const auto weights_options = conv_in->weight.options().dtype(torch::kFloat32);
  auto latent = torch::zeros({batch, config.latent_channels, latent_size[0], latent_size[1], latent_size[2]},
                             weights_options);
  torch::Tensor weights;
  if (!complementary)
    weights = torch::zeros({1, 1, latent_size[0], latent_size[1], latent_size[2]}, weights_options);
  for (size_t ti = 0; ti < t_tiles.size(); ++ti) {
    const auto frames = temporal_pixel_span(t_tiles[ti], t);
    for (size_t hi = 0; hi < h_tiles.size(); ++hi) {
      for (size_t wi = 0; wi < w_tiles.size(); ++wi) {
        const auto& [tm, hm, wm] = std::tie(masks[0][ti], masks[1][hi], masks[2][wi]);
        const auto tile = video.narrow(2, frames.start, frames.end - frames.start)
                              .narrow(3, hm.start * s, (hm.end - hm.start) * s)
                              .narrow(4, wm.start * s, (wm.end - wm.start) * s);
        const auto mask =
            (tm.mask.view({1, 1, -1, 1, 1}) * hm.mask.view({1, 1, 1, -1, 1}) * wm.mask.view({1, 1, 1, 1, -1}))
                .to(weights_options);
        auto region = latent.narrow(2, tm.start, tm.end - tm.start)
                          .narrow(3, hm.start, hm.end - hm.start)
                          .narrow(4, wm.start, wm.end - wm.start);
        region.add_(encode(tile).to(torch::kFloat32) * mask);
        if (weights.defined()) {
          weights.narrow(2, tm.start, tm.end - tm.start)
              .narrow(3, hm.start, hm.end - hm.start)
              .narrow(4, wm.start, wm.end - wm.start)
              .add_(mask);
        }
      }
    }
  }
  if (weights.defined()) latent.div_(weights.clamp_min(1e-8));
  return latent.to(conv_in->weight.scalar_type());
}

VideoVaeEncoder load_video_vae_encoder(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                       torch::TensorOptions options) {
  const auto config = VideoVaeConfig::from_metadata(checkpoint->metadata(), checkpoint->description());
  const auto encoder = WeightSource::from_checkpoint(checkpoint, "vae.encoder.", options);
  const auto statistics = WeightSource::from_checkpoint(checkpoint, "vae.per_channel_statistics.", options);
  VideoVaeEncoder model(encoder, statistics, config);
  encoder.finish("video VAE encoder");
  statistics.finish("video VAE latent statistics");
  core::logger("models").info("{} (encoder loaded)", config.summary());
  return model;
}

}  // namespace avtrain::models
