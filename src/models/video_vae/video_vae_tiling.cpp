#include "models/video_vae/video_vae_tiling.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "core/error.h"

namespace avtrain::models {

std::vector<TileInterval> split_by_size(int64_t length, int64_t size, int64_t overlap) {
  if (length <= size) return {{0, length, 0, 0}};
  const int64_t stride = size - overlap;
  const int64_t amount = (length + size - 2 * overlap - 1) / stride;
  std::vector<TileInterval> tiles{{0, size, 0, overlap}};
  for (int64_t index = 1; index < amount - 1; ++index) {
    tiles.push_back({index * stride, index * stride + size, overlap, overlap});
  }
  tiles.push_back({(amount - 1) * stride, length, overlap, 0});
  return tiles;
}

std::vector<TileInterval> split_temporal_causal(int64_t length, int64_t size, int64_t overlap) {
  auto tiles = split_by_size(length, size, overlap);
  for (size_t index = 1; index < tiles.size(); ++index) {
    tiles[index].start -= 1;
    tiles[index].left_ramp += 1;
  }
  return tiles;
}

torch::Tensor trapezoidal_mask(int64_t length, int64_t ramp_left, int64_t ramp_right,
                               bool left_starts_from_0) {
  TORCH_INTERNAL_ASSERT(length > 0, "mask length must be positive");
  ramp_left = std::clamp<int64_t>(ramp_left, 0, length);
  ramp_right = std::clamp<int64_t>(ramp_right, 0, length);
  auto mask = torch::ones({length});
  if (ramp_left > 0) {
    const auto ramp = torch::linspace(0.0, 1.0, left_starts_from_0 ? ramp_left + 1 : ramp_left + 2);
    mask.narrow(0, 0, ramp_left).mul_(ramp.narrow(0, left_starts_from_0 ? 0 : 1, ramp_left));
  }
  if (ramp_right > 0) {
    const auto ramp = torch::linspace(1.0, 0.0, ramp_right + 2);
    mask.narrow(0, length - ramp_right, ramp_right).mul_(ramp.narrow(0, 1, ramp_right));
  }
  return mask.clamp_(0, 1);
}

std::vector<TileInterval> split_latent_axis(const AxisTiling& tiling, int64_t factor, int64_t latent_length,
                                            bool temporal, TilingUse use, const std::string& axis) {
  if (!tiling.tiled()) return {{0, latent_length, 0, 0}};
  const char* unit = temporal ? "frames" : "px";
  // ltx-core's _validate_size_axis and DimensionSizeConfig checks.
  if (tiling.tile_size < 2 * factor || tiling.tile_size % factor != 0) {
    throw core::InvalidInput(
        fmt::format("VAE tiling: {}.tile_size is {} {}; it must be a multiple of {} and at least {}.", axis,
                    tiling.tile_size, unit, factor, 2 * factor));
  }
  if (tiling.overlap < 0 || tiling.overlap % factor != 0 || tiling.overlap >= tiling.tile_size) {
    throw core::InvalidInput(
        fmt::format("VAE tiling: {}.overlap is {} {}; it must be a multiple of {} and smaller than the tile "
                    "size ({} {}).",
                    axis, tiling.overlap, unit, factor, tiling.tile_size, unit));
  }
  // Encoding needs enough overlap to discard the tiles' edge artifacts (ltx-core's
  // prepare_tiles_for_encoding).
  const int64_t min_overlap = temporal ? 16 : 64;
  if (use == TilingUse::encode && tiling.overlap < min_overlap) {
    throw core::InvalidInput(
        fmt::format("VAE tiling: {}.overlap is {} {}; tiled encoding needs at least {} {}.", axis,
                    tiling.overlap, unit, min_overlap, unit));
  }
  const int64_t overlap = tiling.overlap / factor;
  const int64_t size = std::max(std::max<int64_t>(2, overlap + 1), tiling.tile_size / factor);
  return temporal ? split_temporal_causal(latent_length, size, overlap)
                  : split_by_size(latent_length, size, overlap);
}

PixelSpan temporal_pixel_span(const TileInterval& iv, int64_t factor) {
  const int64_t start = iv.start * factor, end = 1 + (iv.end - 1) * factor;
  const int64_t left = iv.left_ramp == 0 ? 0 : 1 + (iv.left_ramp - 1) * factor;
  return {start, end,
          trapezoidal_mask(end - start, left, iv.right_ramp * factor, /*left_starts_from_0=*/true)};
}

PixelSpan spatial_pixel_span(const TileInterval& iv, int64_t factor) {
  const int64_t start = iv.start * factor, end = iv.end * factor;
  return {start, end, trapezoidal_mask(end - start, iv.left_ramp * factor, iv.right_ramp * factor, false)};
}

bool masks_are_complementary(const std::vector<std::vector<PixelSpan>>& axes,
                             const std::vector<int64_t>& lengths) {
  for (size_t axis = 0; axis < axes.size(); ++axis) {
    auto sum = torch::zeros({lengths[axis]});
    std::set<std::pair<int64_t, int64_t>> seen;
    for (const auto& span : axes[axis]) {
      if (!seen.insert({span.start, span.end}).second) continue;
      sum.narrow(0, span.start, span.end - span.start).add_(span.mask);
    }
    if (!torch::allclose(sum, torch::ones_like(sum), /*rtol=*/0, /*atol=*/1e-5)) return false;
  }
  return true;
}

}  // namespace avtrain::models
