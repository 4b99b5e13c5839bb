#include "models/video_vae/video_vae_decoder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <string>

#include "core/error.h"
#include "core/log.h"
#include "models/video_vae/pixel_norm.h"
#include "models/video_vae/space_to_depth.h"

namespace avtrain::models {

VideoVaeDecoderImpl::VideoVaeDecoderImpl(const WeightSource& w, const WeightSource& statistics,
                                         VideoVaeConfig c)
    : config(std::move(c)) {
  const int64_t chunk = config.chunk_elements;
  int64_t width = config.decoder_bottleneck_channels();
  conv_in = register_module(
      "conv_in", CausalConv3d(w.at("conv_in"), CausalConv3dOptions{config.latent_channels, width, chunk}));
  auto list = register_module("up_blocks", torch::nn::ModuleList());
  const auto blocks = w.at("up_blocks");
  // up_blocks are decoder_blocks reversed (specs §4.1).
  for (size_t index = 0; index < config.decoder_blocks.size(); ++index) {
    const auto& block = config.decoder_blocks[config.decoder_blocks.size() - 1 - index];
    const auto source = blocks.at(std::to_string(index));
    UpBlock up;
    if (block.name == "res_x") {
      up.res =
          UnetMidBlock3D(source, ResnetBlock3DOptions{width, config.pixel_norm_eps, chunk}, block.num_layers);
      list->push_back(up.res);
    } else {
      const ResamplingOptions options{width, width / block.multiplier, block.time_stride(),
                                      block.space_stride(), chunk};
      up.upsample = DepthToSpaceUpsample(source, options);
      list->push_back(up.upsample);
      width = options.out_channels;
    }
    up_blocks.push_back(up);
  }
  conv_out = register_module(
      "conv_out",
      CausalConv3d(
          w.at("conv_out"),
          CausalConv3dOptions{width, config.out_channels * config.patch_size * config.patch_size, chunk}));
  per_channel_statistics =
      register_module("per_channel_statistics", PerChannelStatistics(statistics, config.latent_channels));
}

void VideoVaeDecoderImpl::check_latent(const torch::Tensor& latent, const char* what) const {
  if (latent.dim() != 5 || latent.size(1) != config.latent_channels || latent.size(2) < 1 ||
      latent.size(3) < 1 || latent.size(4) < 1) {
    throw core::InvalidInput(
        fmt::format("{}: the latent has shape {}; expected [batch, {}, frames, height, width] with at least "
                    "one frame and cell.",
                    what, fmt::join(latent.sizes(), "x"), config.latent_channels));
  }
}

torch::Tensor VideoVaeDecoderImpl::decode(const torch::Tensor& latent) {
  check_latent(latent, "video VAE decode");
  const torch::NoGradGuard no_grad;  // frozen model; the blocks normalize and add in place
  const bool causal = config.causal_decoder;
  auto x = per_channel_statistics->un_normalize(latent.to(conv_in->weight.options()));
  x = conv_in(x, causal);
  for (auto& block : up_blocks) {
    x = block.res ? block.res->forward(std::move(x), causal) : block.upsample->forward(std::move(x), causal);
  }
  if (!x.is_contiguous()) x = x.contiguous();  // the last upsampler may hand over a frame-dropping view
  pixel_norm_silu_in_place(x, config.pixel_norm_eps, config.chunk_elements);
  x = conv_out(x, causal);
  return unpatchify(x, config.patch_size).to(latent.scalar_type());
}

void VideoVaeDecoderImpl::decode_tiled(const torch::Tensor& latent, const TilingOptions& tiling,
                                       const std::function<void(const torch::Tensor& frames)>& on_frames) {
  check_latent(latent, "video VAE tiled decode");
  const torch::NoGradGuard no_grad;
  const int64_t t = config.time_factor(), s = config.space_factor();
  const int64_t batch = latent.size(0), channels = config.out_channels;
  const std::vector<int64_t> video_size{(latent.size(2) - 1) * t + 1, latent.size(3) * s, latent.size(4) * s};
  const auto t_tiles = split_latent_axis(tiling.frames, t, latent.size(2), true, TilingUse::decode, "frames");
  const auto h_tiles =
      split_latent_axis(tiling.height, s, latent.size(3), false, TilingUse::decode, "height");
  const auto w_tiles = split_latent_axis(tiling.width, s, latent.size(4), false, TilingUse::decode, "width");
  std::vector<std::vector<PixelSpan>> spans(3);
  // An untiled axis keeps a mask of ones (ltx-core's untiled_mask_1d broadcasts the same way).
  for (const auto& iv : t_tiles) spans[0].push_back(temporal_pixel_span(iv, t));
  for (const auto& iv : h_tiles) spans[1].push_back(spatial_pixel_span(iv, s));
  for (const auto& iv : w_tiles) spans[2].push_back(spatial_pixel_span(iv, s));
  const bool complementary = masks_are_complementary(spans, video_size);
  // Accumulated in float32 on the weights' device, one temporal group of tiles at a time.
  const auto options = conv_in->weight.options().dtype(torch::kFloat32);
  torch::Tensor previous, previous_weights;
  int64_t previous_start = 0, previous_end = 0;
  const auto emit = [&](int64_t count) {
    auto frames = previous.narrow(2, 0, count);
    if (previous_weights.defined()) frames = frames / previous_weights.narrow(2, 0, count).clamp_min(1e-8);
    on_frames(frames.to(latent.scalar_type()));
  };
  for (size_t ti = 0; ti < t_tiles.size(); ++ti) {
    const auto& time = spans[0][ti];
    const int64_t length = time.end - time.start;
    auto buffer = torch::zeros({batch, channels, length, video_size[1], video_size[2]}, options);
    torch::Tensor weights;
    if (!complementary) weights = torch::zeros({1, 1, length, video_size[1], video_size[2]}, options);
    for (size_t hi = 0; hi < h_tiles.size(); ++hi) {
      for (size_t wi = 0; wi < w_tiles.size(); ++wi) {
        const auto& height = spans[1][hi];
        const auto& width = spans[2][wi];
        const auto tile = latent.narrow(2, t_tiles[ti].start, t_tiles[ti].end - t_tiles[ti].start)
                              .narrow(3, h_tiles[hi].start, h_tiles[hi].end - h_tiles[hi].start)
                              .narrow(4, w_tiles[wi].start, w_tiles[wi].end - w_tiles[wi].start);
        const auto decoded = decode(tile);
        const auto mask = (time.mask.view({1, 1, -1, 1, 1}) * height.mask.view({1, 1, 1, -1, 1}) *
                           width.mask.view({1, 1, 1, 1, -1}))
                              .to(options);
        buffer.narrow(3, height.start, height.end - height.start)
            .narrow(4, width.start, width.end - width.start)
            .add_(decoded.to(options) * mask);
        if (weights.defined()) {
          weights.narrow(3, height.start, height.end - height.start)
              .narrow(4, width.start, width.end - width.start)
              .add_(mask);
        }
      }
    }
    if (previous.defined()) {
      // Blend the overlap into the previous group, carry the blended frames over, emit what is final.
      const int64_t overlap = previous_end - time.start;
      if (overlap > 0) {
        auto previous_overlap = previous.narrow(2, time.start - previous_start, overlap);
        previous_overlap.add_(buffer.narrow(2, 0, overlap));
        buffer.narrow(2, 0, overlap).copy_(previous_overlap);
        if (weights.defined()) {
          auto previous_weights_overlap = previous_weights.narrow(2, time.start - previous_start, overlap);
          previous_weights_overlap.add_(weights.narrow(2, 0, overlap));
          weights.narrow(2, 0, overlap).copy_(previous_weights_overlap);
        }
      }
      emit(time.start - previous_start);
    }
    previous = buffer;
    previous_weights = weights;
    previous_start = time.start;
    previous_end = time.end;
  }
  emit(previous_end - previous_start);
}

torch::Tensor VideoVaeDecoderImpl::decode_tiled(const torch::Tensor& latent, const TilingOptions& tiling) {
  check_latent(latent, "video VAE tiled decode");
  const int64_t t = config.time_factor(), s = config.space_factor();
  auto video = torch::empty({latent.size(0), config.out_channels, (latent.size(2) - 1) * t + 1,
                             latent.size(3) * s, latent.size(4) * s},
                            conv_in->weight.options().dtype(latent.scalar_type()));
  int64_t written = 0;
  decode_tiled(latent, tiling, [&](const torch::Tensor& frames) {
    video.narrow(2, written, frames.size(2)).copy_(frames);
    written += frames.size(2);
  });
  TORCH_INTERNAL_ASSERT(written == video.size(2), "tiled decode emitted ", written, " of ", video.size(2),
                        " frames");
  return video;
}

VideoVaeDecoder load_video_vae_decoder(std::shared_ptr<const core::SafetensorsSet> checkpoint,
                                       torch::TensorOptions options) {
  const auto config = VideoVaeConfig::from_metadata(checkpoint->metadata(), checkpoint->description());
  const auto decoder = WeightSource::from_checkpoint(checkpoint, "vae.decoder.", options);
  const auto statistics = WeightSource::from_checkpoint(checkpoint, "vae.per_channel_statistics.", options);
  VideoVaeDecoder model(decoder, statistics, config);
  decoder.finish("video VAE decoder");
  statistics.finish("video VAE latent statistics");
  core::logger("models").info("{} (decoder loaded)", config.summary());
  return model;
}

}  // namespace avtrain::models
