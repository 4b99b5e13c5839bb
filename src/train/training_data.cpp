#include "train/training_data.h"

#include <torch/torch.h>

#include "core/error.h"

namespace avtrain::train {

DataOrder::DataOrder(int64_t size, uint64_t seed) : size_(size), seed_(seed) {
  if (size <= 0) throw core::InvalidInput("the training data holds no pairs; at least one is needed");
}

int64_t DataOrder::index_at_step(int64_t step) {
  if (step < 1)
    throw core::InternalError("DataOrder::index_at_step: steps are 1-based, got " + std::to_string(step));
  const int64_t position = step - 1;
  const int64_t epoch = position / size_;
  if (epoch != epoch_) {
    // A distinct stream per epoch (golden-ratio increment keeps consecutive epochs' seeds far apart).
    auto generator =
        at::detail::createCPUGenerator(seed_ + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(epoch + 1));
    const auto permutation = torch::randperm(size_, generator, torch::kLong);
    permutation_.assign(permutation.data_ptr<int64_t>(), permutation.data_ptr<int64_t>() + size_);
    epoch_ = epoch;
  }
  return permutation_[static_cast<size_t>(position % size_)];
}

}  // namespace avtrain::train
