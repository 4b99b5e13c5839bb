#include "models/video_vae/per_channel_statistics.h"

#include <torch/torch.h>

namespace avtrain::models {

PerChannelStatisticsImpl::PerChannelStatisticsImpl(const WeightSource& w, int64_t channels) {
  // Buffers, not parameters, as in ltx-core; the hyphenated names are the checkpoint's.
  std_of_means = register_buffer("std-of-means", w.take("std-of-means", {channels}, Init::positive));
  mean_of_means = register_buffer("mean-of-means", w.take("mean-of-means", {channels}, Init::normal));
}

torch::Tensor PerChannelStatisticsImpl::normalize(const torch::Tensor& x) const {
  return (x - mean_of_means.view({1, -1, 1, 1, 1}).to(x.options())) /
         std_of_means.view({1, -1, 1, 1, 1}).to(x.options());
}

torch::Tensor PerChannelStatisticsImpl::un_normalize(const torch::Tensor& z) const {
  return z * std_of_means.view({1, -1, 1, 1, 1}).to(z.options()) +
         mean_of_means.view({1, -1, 1, 1, 1}).to(z.options());
}

}  // namespace avtrain::models
