#include "models/video_vae/space_to_depth.h"

#include <torch/torch.h>

namespace avtrain::models {

torch::Tensor patchify(const torch::Tensor& x, int64_t p) {
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2), h = x.size(3) / p, w = x.size(4) / p;
  // [b, c, t, h, q, w, r] -> [b, c, r, q, t, h, w]
  return x.reshape({b, c, t, h, p, w, p}).permute({0, 1, 6, 4, 2, 3, 5}).reshape({b, c * p * p, t, h, w});
}

torch::Tensor unpatchify(const torch::Tensor& x, int64_t p) {
  const int64_t b = x.size(0), c = x.size(1) / (p * p), t = x.size(2), h = x.size(3), w = x.size(4);
  // [b, c, r, q, t, h, w] -> [b, c, t, h, q, w, r]
  return x.reshape({b, c, p, p, t, h, w}).permute({0, 1, 4, 5, 3, 6, 2}).reshape({b, c, t, h * p, w * p});
}

torch::Tensor space_to_depth(const torch::Tensor& x, int64_t st, int64_t sh, int64_t sw) {
  const int64_t b = x.size(0), c = x.size(1), t = x.size(2) / st, h = x.size(3) / sh, w = x.size(4) / sw;
  // [b, c, t, i, h, j, w, k] -> [b, c, i, j, k, t, h, w]
  return x.reshape({b, c, t, st, h, sh, w, sw})
      .permute({0, 1, 3, 5, 7, 2, 4, 6})
      .reshape({b, c * st * sh * sw, t, h, w});
}

torch::Tensor depth_to_space(const torch::Tensor& x, int64_t st, int64_t sh, int64_t sw) {
  const int64_t b = x.size(0), c = x.size(1) / (st * sh * sw), t = x.size(2), h = x.size(3), w = x.size(4);
  // [b, c, i, j, k, t, h, w] -> [b, c, t, i, h, j, w, k]
  return x.reshape({b, c, st, sh, sw, t, h, w})
      .permute({0, 1, 5, 2, 6, 3, 7, 4})
      .reshape({b, c, t * st, h * sh, w * sw});
}

}  // namespace avtrain::models
