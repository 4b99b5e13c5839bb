#pragma once
// A job's training curves for the dashboard (GET {prefix}/requests/{id}/metrics, issue 26): the
// trainer's metrics.jsonl (train/training_metrics.h) as one series per quantity against the step, the
// losses also smoothed, decimated to at most `max_points` points so a 20,000-step job draws as fast as
// a short one.
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace avtrain::service {

inline constexpr size_t kMaxMetricsPoints = 2000;

// {"total_steps": N, "logged_steps": n, "step": [...], "series": {"loss", "video_loss", "audio_loss",
//  "video_loss_smoothed", "audio_loss_smoothed", "learning_rate", "grad_norm", "step_seconds": [...]}}:
// every array of one length, at most max_points, always holding the first and the last logged step.
// Smoothing is an exponential moving average over every logged step (weight 0.9 on the past, debiased as
// TensorBoard's), taken before decimation. A missing file is no steps; a line that does not read (the one
// being written) is skipped.
nlohmann::ordered_json metrics_series(const std::filesystem::path& metrics_file,
                                      size_t max_points = kMaxMetricsPoints);

}  // namespace avtrain::service
