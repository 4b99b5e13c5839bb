#include "service/metrics_series.h"

#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace avtrain::service {
namespace {

constexpr std::array kQuantities = {"loss",          "video_loss", "audio_loss",
                                    "learning_rate", "grad_norm",  "step_seconds"};
constexpr std::array kSmoothed = {"video_loss", "audio_loss"};
constexpr double kSmoothingWeight = 0.9;

// The moving average of `values`, debiased so that the first points are not pulled towards 0.
std::vector<double> smoothed(const std::vector<double>& values) {
  std::vector<double> out;
  out.reserve(values.size());
  double average = 0, weight = 0;
  for (const double value : values) {
    average = kSmoothingWeight * average + (1 - kSmoothingWeight) * value;
    weight = kSmoothingWeight * weight + (1 - kSmoothingWeight);
    out.push_back(average / weight);
  }
  return out;
}

}  // namespace

nlohmann::ordered_json metrics_series(const std::filesystem::path& metrics_file, size_t max_points) {
  std::vector<int64_t> steps;
  std::map<std::string, std::vector<double>> series;
  for (const char* name : kQuantities) series[name];  // every series, empty without steps
  int64_t total_steps = 0;
  std::ifstream in(metrics_file);
  for (std::string line; std::getline(in, line);) {
    const auto entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!entry.is_object() || !entry.contains("step") || !entry["step"].is_number_integer()) continue;
    bool complete = true;
    for (const char* name : kQuantities)
      complete = complete && entry.contains(name) && entry[name].is_number();
    if (!complete) continue;
    steps.push_back(entry["step"].get<int64_t>());
    for (const char* name : kQuantities) series[name].push_back(entry[name].get<double>());
    if (entry.contains("total_steps") && entry["total_steps"].is_number_integer())
      total_steps = entry["total_steps"].get<int64_t>();
  }
  for (const char* name : kSmoothed) series[std::string(name) + "_smoothed"] = smoothed(series[name]);

  // Evenly spaced indices from the first to the last point.
  std::vector<size_t> kept;
  const size_t count = steps.size();
  if (count <= max_points || max_points < 2) {
    for (size_t index = 0; index < count; ++index) kept.push_back(index);
  } else {
    for (size_t k = 0; k < max_points; ++k) {
      kept.push_back(static_cast<size_t>(std::llround(
          static_cast<double>(k) * static_cast<double>(count - 1) / static_cast<double>(max_points - 1))));
    }
  }
  nlohmann::ordered_json kept_steps = nlohmann::ordered_json::array();
  for (const size_t index : kept) kept_steps.push_back(steps[index]);
  nlohmann::ordered_json out_series = nlohmann::ordered_json::object();
  for (const auto& [name, values] : series) {
    nlohmann::ordered_json points = nlohmann::ordered_json::array();
    // JSON has no NaN or infinity: a diverged step is null (a gap in the chart).
    for (const size_t index : kept)
      points.push_back(std::isfinite(values[index]) ? nlohmann::ordered_json(values[index]) : nullptr);
    out_series[name] = std::move(points);
  }
  return {{"total_steps", total_steps},
          {"logged_steps", static_cast<int64_t>(count)},
          {"step", std::move(kept_steps)},
          {"series", std::move(out_series)}};
}

}  // namespace avtrain::service
