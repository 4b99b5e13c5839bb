#pragma once
// Resolution buckets and the frame-count and reference-scaling rules of a training request
// (MISSION.md "Resolution buckets" and "Cross-field rules"; specs/trainer.md §1.2, §1.5; DECISIONS.md §14).
// Torch-free: the request parser, media fitting, the dataset and the trainer all read the same rules.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace avtrain::service {

// The VAE's compression (trainer.md conventions: Ss = 32, St = 8). Every LTX-2/2.3 checkpoint has
// these; a request is checked before any checkpoint is opened, so they are constants here and the
// model loader refuses a checkpoint whose VAE config differs.
inline constexpr int kVaeSpatialCompression = 32;
inline constexpr int kVaeTemporalCompression = 8;

inline constexpr int kMinFrameCount = 9;
inline constexpr int kMaxFrameCount = 121;
inline constexpr int kMaxReferenceScaleFactor = 8;

enum class Resolution { low, medium, high };
enum class AspectRatio { landscape_16_9, square_1_1, portrait_9_16 };

inline constexpr Resolution kResolutions[] = {Resolution::low, Resolution::medium, Resolution::high};
inline constexpr AspectRatio kAspectRatios[] = {AspectRatio::landscape_16_9, AspectRatio::square_1_1,
                                                AspectRatio::portrait_9_16};
// Their names in requests (the Literal values of resolution and aspect_ratio), in the same order.
inline constexpr std::array<std::string_view, 3> kResolutionNames = {"low", "medium", "high"};
inline constexpr std::array<std::string_view, 3> kAspectRatioNames = {"16:9", "1:1", "9:16"};

// "low", "medium", "high" / "16:9", "1:1", "9:16": the request's spelling.
std::string_view to_string(Resolution resolution);
std::string_view to_string(AspectRatio aspect_ratio);
std::optional<Resolution> parse_resolution(std::string_view text);
std::optional<AspectRatio> parse_aspect_ratio(std::string_view text);

struct VideoSize {
  int width = 0;
  int height = 0;
  bool operator==(const VideoSize&) const = default;
};

// "768x448".
std::string to_string(VideoSize size);

// The bucket table of MISSION.md (width x height).
VideoSize bucket_size(Resolution resolution, AspectRatio aspect_ratio);

// Reference downscale factor d fits a size when W % d == 0, H % d == 0 and W/d, H/d are multiples of
// 32 (trainer.md §1.5). reference_size returns (W/d, H/d) and requires downscale_fits.
bool downscale_fits(VideoSize size, int factor);
std::vector<int> fitting_downscale_factors(VideoSize size);  // the d in 1..8 that fit
VideoSize reference_size(VideoSize size, int factor);
// Why d does not fit, e.g. "448/3 is not a whole number" or "448/4 = 112 is not a multiple of 32";
// empty when it fits.
std::string downscale_misfit(VideoSize size, int factor);

// Frame counts are 8k+1; any other count in range snaps DOWN to the nearest one (MISSION.md,
// DECISIONS.md §14): 90 -> 89, 100 -> 97. Requires count >= 1.
int snap_frame_count(int count);
bool is_valid_frame_count(int count);

// Temporal factor S fits F frames when (F-1) % S == 0 and (F-1)/S is a multiple of 8, i.e.
// (F-1) % (8 S) == 0 (trainer.md §1.5, DECISIONS.md §14: never a further silent snap).
bool temporal_factor_fits(int frame_count, int factor);
std::vector<int> fitting_temporal_factors(int frame_count);  // the S in 1..8 that fit
// Frame counts in [kMinFrameCount, kMaxFrameCount] that S fits: 1 + 8 S k.
std::vector<int> frame_counts_for_temporal_factor(int factor);
// Frames the reference keeps after subsampling: [0, 1, 1+S, 1+2S, ...] < F (DECISIONS.md §15).
int reference_frame_count(int frame_count, int factor);

}  // namespace avtrain::service
