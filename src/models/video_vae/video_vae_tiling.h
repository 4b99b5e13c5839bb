#pragma once
// Tile layout and blending for tiled video VAE encoding and decoding (specs/vae_audio.md §6;
// ltx-core's TileSizeConfig, split_by_size, split_temporal_causal and trapezoidal masks).
//
// Tiles are laid out on the latent grid. Sizes and overlaps are given in pixels / frames and divided
// by the VAE's factors (32 px, 8 frames). Temporal tiles after the first start one latent earlier and
// take a left ramp one longer ("causal split"). Overlaps are blended with linear ramps and the
// accumulated values divided by the summed weights (unless the masks already sum to one).

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace avtrain::models {

// One axis: tile_size 0 = not tiled.
struct AxisTiling {
  int64_t tile_size = 0;
  int64_t overlap = 0;
  bool tiled() const { return tile_size > 0; }
};

// Defaults: DECISIONS.md §28 (ltx-core's TileSizeConfig.default()): 768 px tiles with 64 px overlap
// on each spatial axis, 80-frame tiles with 24 frames overlap. An axis no longer than one tile is
// not split, so small clips are processed whole.
struct TilingOptions {
  AxisTiling frames{80, 24};
  AxisTiling height{768, 64};
  AxisTiling width{768, 64};
  static TilingOptions none() { return {{0, 0}, {0, 0}, {0, 0}}; }
};

// [start, end) on the latent grid with the blend ramp lengths on each side.
struct TileInterval {
  int64_t start = 0, end = 0, left_ramp = 0, right_ramp = 0;
  bool operator==(const TileInterval&) const = default;
};

// ltx-core's split_by_size: tiles of `size` sharing `overlap` cells; the last one may be shorter.
std::vector<TileInterval> split_by_size(int64_t length, int64_t size, int64_t overlap);
// ltx-core's split_temporal_causal: split_by_size, then every tile after the first starts one earlier
// with a left ramp one longer.
std::vector<TileInterval> split_temporal_causal(int64_t length, int64_t size, int64_t overlap);

// ltx-core's compute_trapezoidal_mask_1d: ones with a linear fade-in of `ramp_left` values (from
// linspace(0, 1, ramp_left + 2) without its ends, or starting at 0 when `left_starts_from_0`) and a
// fade-out of `ramp_right` values. Float32 on the CPU.
torch::Tensor trapezoidal_mask(int64_t length, int64_t ramp_left, int64_t ramp_right,
                               bool left_starts_from_0);

enum class TilingUse { encode, decode };

// The latent-grid split of one axis. `factor` is the VAE's factor on that axis (8 or 32),
// `latent_length` the latent extent. Throws core::InvalidInput naming `axis` ("frames", "height",
// "width") when the sizes do not fit the VAE grid (ltx-core's _validate_size_axis; encoding also
// needs 16 frames / 64 px of overlap).
std::vector<TileInterval> split_latent_axis(const AxisTiling& tiling, int64_t factor, int64_t latent_length,
                                            bool temporal, TilingUse use, const std::string& axis);

// Pixel footprint of a latent interval (ltx-core's map_temporal_slice / map_spatial_slice).
// Temporal: [factor * start, 1 + factor * (end - 1)), ramps 1 + factor * (left - 1) and factor * right,
// mask starting from 0. Spatial: [factor * start, factor * end), ramps scaled by factor.
struct PixelSpan {
  int64_t start = 0, end = 0;
  torch::Tensor mask;  // [end - start]
};
PixelSpan temporal_pixel_span(const TileInterval& interval, int64_t factor);
PixelSpan spatial_pixel_span(const TileInterval& interval, int64_t factor);

// True when, on every axis, the masks of the distinct intervals sum to one everywhere (atol 1e-5):
// then the weighted sum needs no division (ltx-core's masks_are_complementary).
bool masks_are_complementary(const std::vector<std::vector<PixelSpan>>& axes,
                             const std::vector<int64_t>& lengths);

}  // namespace avtrain::models
