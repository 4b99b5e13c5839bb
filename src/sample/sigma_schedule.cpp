#include "sample/sigma_schedule.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace avtrain::sample {
namespace {

// ltx-core's shift anchors: base_shift at 1024 tokens, max_shift at 4096.
constexpr double kBaseShiftTokens = 1024;
constexpr double kMaxShiftTokens = 4096;

// BetaScheduler's flux time-shift table: 10000 timesteps, shift 2.37.
constexpr int64_t kBetaTableLength = 10000;
constexpr double kBetaTableShift = 2.37;

void require_steps(int64_t steps, int64_t minimum, const char* schedule) {
  if (steps < minimum) {
    throw core::InvalidInput(std::string(schedule) + " sigma schedule: steps=" + std::to_string(steps) +
                             " is too small; it needs at least " + std::to_string(minimum) +
                             " steps. Use more inference steps.");
  }
}

// Python's `scalar / tensor` is `tensor.reciprocal() * scalar` (torch/_tensor.py __rtruediv__);
// LibTorch's operator/(Scalar, Tensor) divides instead, which rounds differently in float32.
torch::Tensor python_rdiv(double numerator, const torch::Tensor& denominator) {
  return denominator.reciprocal() * numerator;
}

// math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** power), with t a float32 tensor and the python
// floats entering as float32 scalars, in ltx-core's operation order (schedulers.py).
torch::Tensor time_shift(double mu, const torch::Tensor& t, double power) {
  const double e = std::exp(mu);
  return python_rdiv(e, (python_rdiv(1.0, t) - 1).pow(power) + e);
}

// Regularized incomplete beta I_x(a, b) by its continued fraction (DLMF 8.17.22), evaluated with the
// modified Lentz method on the side of the mean where it converges fast.
double regularized_incomplete_beta(double x, double a, double b) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - regularized_incomplete_beta(1 - x, b, a);
  constexpr double kTiny = 1e-300;
  constexpr double kTolerance = 1e-16;
  const double log_front =
      a * std::log(x) + b * std::log1p(-x) + std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b);
  double c = 1;
  double d = 1 - (a + b) * x / (a + 1);
  d = 1 / (std::abs(d) < kTiny ? kTiny : d);
  double fraction = d;
  for (int m = 1; m <= 1000; ++m) {
    for (const bool even : {true, false}) {
      const double numerator = even ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                    : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
      d = 1 + numerator * d;
      d = 1 / (std::abs(d) < kTiny ? kTiny : d);
      c = 1 + numerator / c;
      if (std::abs(c) < kTiny) c = kTiny;
      fraction *= c * d;
      if (!even && std::abs(c * d - 1) < kTolerance) return std::exp(log_front) * fraction / a;
    }
  }
  return std::exp(log_front) * fraction / a;
}

// Inverse of I_x(a, b) in x (scipy.stats.beta.ppf), by bisection to double precision: it only has to
// decide the rounding of ppf * 9999 (BetaScheduler), so robustness matters more than speed.
double beta_quantile(double p, double a, double b) {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  double lo = 0, hi = 1;
  for (int iteration = 0; iteration < 200 && hi - lo > 1e-17; ++iteration) {
    const double mid = 0.5 * (lo + hi);
    (regularized_incomplete_beta(mid, a, b) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

torch::Tensor float_tensor(const std::vector<double>& values) {
  std::vector<float> narrowed(values.begin(), values.end());
  return torch::tensor(narrowed, torch::kFloat32);
}

}  // namespace

torch::Tensor ltx2_sigmas(int64_t steps, const Ltx2ScheduleOptions& options) {
  require_steps(steps, 2, "LTX2");
  const double slope = (options.max_shift - options.base_shift) / (kMaxShiftTokens - kBaseShiftTokens);
  const double intercept = options.base_shift - slope * kBaseShiftTokens;
  const double sigma_shift = static_cast<double>(options.tokens) * slope + intercept;

  auto sigmas = torch::linspace(1.0, 0.0, steps + 1, torch::kFloat32);
  sigmas = torch::where(sigmas != 0, time_shift(sigma_shift, sigmas, 1), torch::zeros_like(sigmas));
  if (options.stretch) {
    // Stretch so that the last non-zero sigma lands on `terminal` (float32, as ltx-core).
    const auto non_zero = sigmas != 0;
    const auto one_minus_z = 1.0 - sigmas.index({non_zero});
    const auto scale_factor = one_minus_z[-1] / (1.0 - options.terminal);
    sigmas.index_put_({non_zero}, 1.0 - one_minus_z / scale_factor);
  }
  return sigmas;
}

torch::Tensor linear_quadratic_sigmas(int64_t steps, double threshold_noise, int64_t linear_steps) {
  require_steps(steps, 1, "linear-quadratic");
  if (steps == 1) return float_tensor({1.0, 0.0});
  if (linear_steps < 0) linear_steps = steps / 2;
  if (linear_steps < 1 || linear_steps > steps) {
    throw core::InvalidInput("linear-quadratic sigma schedule: linear_steps=" + std::to_string(linear_steps) +
                             " must be between 1 and steps=" + std::to_string(steps) + ".");
  }
  // Python double arithmetic in ltx-core's order, rounded to float32 at the end.
  const double ls = static_cast<double>(linear_steps);
  std::vector<double> schedule;
  for (int64_t i = 0; i < linear_steps; ++i)
    schedule.push_back(static_cast<double>(i) * threshold_noise / ls);
  const double step_diff = ls - threshold_noise * static_cast<double>(steps);
  const double qs = static_cast<double>(steps - linear_steps);
  if (steps > linear_steps) {
    const double quadratic_coef = step_diff / (ls * (qs * qs));
    const double linear_coef = threshold_noise / ls - 2 * step_diff / (qs * qs);
    const double constant = quadratic_coef * (ls * ls);
    for (int64_t i = linear_steps; i < steps; ++i) {
      const double di = static_cast<double>(i);
      schedule.push_back(quadratic_coef * (di * di) + linear_coef * di + constant);
    }
  }
  schedule.push_back(1.0);
  for (auto& value : schedule) value = 1.0 - value;
  return float_tensor(schedule);
}

torch::Tensor beta_sigmas(int64_t steps, double alpha, double beta) {
  require_steps(steps, 1, "beta");
  // Table: flux_time_shift(2.37, 1, t) for t = arange(1, 10001) / 10000, all in float32.
  const auto t = torch::arange(1, kBetaTableLength + 1, torch::kInt64) / kBetaTableLength;
  const auto table = time_shift(kBetaTableShift, t, 1.0);
  const auto total_timesteps = static_cast<double>(kBetaTableLength - 1);
  std::vector<int64_t> timesteps;
  for (int64_t i = 0; i < steps; ++i) {
    const double p = 1 - static_cast<double>(i) * (1.0 / static_cast<double>(steps));
    const auto timestep =
        static_cast<int64_t>(std::nearbyint(beta_quantile(p, alpha, beta) * total_timesteps));
    if (std::find(timesteps.begin(), timesteps.end(), timestep) == timesteps.end())
      timesteps.push_back(timestep);
  }
  const auto index = torch::tensor(timesteps, torch::kInt64);
  return torch::cat({table.index_select(0, index), torch::zeros({1}, torch::kFloat32)});
}

torch::Tensor distilled_stage1_sigmas() {
  return float_tensor({1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0});
}

torch::Tensor distilled_stage2_sigmas() { return float_tensor({0.909375, 0.725, 0.421875, 0.0}); }

}  // namespace avtrain::sample
