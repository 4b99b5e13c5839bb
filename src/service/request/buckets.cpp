#include "service/request/buckets.h"

namespace avtrain::service {

std::string_view to_string(Resolution resolution) {
  switch (resolution) {
    case Resolution::low:
      return "low";
    case Resolution::medium:
      return "medium";
    case Resolution::high:
      return "high";
  }
  return "medium";
}

std::string_view to_string(AspectRatio aspect_ratio) {
  switch (aspect_ratio) {
    case AspectRatio::landscape_16_9:
      return "16:9";
    case AspectRatio::square_1_1:
      return "1:1";
    case AspectRatio::portrait_9_16:
      return "9:16";
  }
  return "1:1";
}

std::optional<Resolution> parse_resolution(std::string_view text) {
  for (const auto resolution : kResolutions) {
    if (to_string(resolution) == text) return resolution;
  }
  return std::nullopt;
}

std::optional<AspectRatio> parse_aspect_ratio(std::string_view text) {
  for (const auto aspect_ratio : kAspectRatios) {
    if (to_string(aspect_ratio) == text) return aspect_ratio;
  }
  return std::nullopt;
}

std::string to_string(VideoSize size) {
  return std::to_string(size.width) + "x" + std::to_string(size.height);
}

VideoSize bucket_size(Resolution resolution, AspectRatio aspect_ratio) {
  // Long side and short side of each resolution; 1:1 uses the long side for both (MISSION.md table).
  struct Sides {
    int long_side, short_side;
  };
  const Sides sides = resolution == Resolution::low      ? Sides{512, 288}
                      : resolution == Resolution::medium ? Sides{768, 448}
                                                         : Sides{960, 544};
  switch (aspect_ratio) {
    case AspectRatio::landscape_16_9:
      return {sides.long_side, sides.short_side};
    case AspectRatio::square_1_1:
      return {sides.long_side, sides.long_side};
    case AspectRatio::portrait_9_16:
      return {sides.short_side, sides.long_side};
  }
  return {sides.long_side, sides.long_side};
}

std::string downscale_misfit(VideoSize size, int factor) {
  if (factor < 1) return "the factor must be at least 1";
  std::string why;
  for (const int side : {size.width, size.height}) {
    std::string reason;
    if (side % factor != 0) {
      reason = std::to_string(side) + "/" + std::to_string(factor) + " is not a whole number";
    } else if ((side / factor) % kVaeSpatialCompression != 0) {
      reason = std::to_string(side) + "/" + std::to_string(factor) + " = " + std::to_string(side / factor) +
               " is not a multiple of " + std::to_string(kVaeSpatialCompression);
    }
    if (reason.empty() || why.find(reason) != std::string::npos) continue;  // 1:1 sides repeat
    why += (why.empty() ? "" : " and ") + reason;
  }
  return why;
}

bool downscale_fits(VideoSize size, int factor) {
  return factor >= 1 && downscale_misfit(size, factor).empty();
}

std::vector<int> fitting_downscale_factors(VideoSize size) {
  std::vector<int> factors;
  for (int factor = 1; factor <= kMaxReferenceScaleFactor; ++factor) {
    if (downscale_fits(size, factor)) factors.push_back(factor);
  }
  return factors;
}

VideoSize reference_size(VideoSize size, int factor) { return {size.width / factor, size.height / factor}; }

int snap_frame_count(int count) {
  if (count < 1) return 1;
  return count - (count - 1) % kVaeTemporalCompression;
}

bool is_valid_frame_count(int count) { return count >= 1 && (count - 1) % kVaeTemporalCompression == 0; }

bool temporal_factor_fits(int frame_count, int factor) {
  return factor >= 1 && frame_count >= 1 && (frame_count - 1) % (kVaeTemporalCompression * factor) == 0;
}

std::vector<int> fitting_temporal_factors(int frame_count) {
  std::vector<int> factors;
  for (int factor = 1; factor <= kMaxReferenceScaleFactor; ++factor) {
    if (temporal_factor_fits(frame_count, factor)) factors.push_back(factor);
  }
  return factors;
}

std::vector<int> frame_counts_for_temporal_factor(int factor) {
  std::vector<int> counts;
  for (int count = kMinFrameCount; count <= kMaxFrameCount; ++count) {
    if (temporal_factor_fits(count, factor)) counts.push_back(count);
  }
  return counts;
}

int reference_frame_count(int frame_count, int factor) {
  if (frame_count <= 1) return frame_count;
  return 2 + (frame_count - 2) / factor;  // frame 0, then frames 1, 1+S, 1+2S, ... below F
}

}  // namespace avtrain::service
