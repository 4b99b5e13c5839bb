#pragma once
// The trainer's inputs: already-encoded AV2AV training pairs (DESIGN.md: train knows neither media nor the
// dataset layer; the job pipeline feeds it from the latent and text caches, specs/trainer.md §1.9, §2.1).

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace avtrain::train {

// One training pair, batch dimension omitted, on the CPU (the step moves it to the model's device).
struct TrainingSample {
  torch::Tensor video_latent;            // [C, F', H', W'] the target clip (bf16 or float32)
  torch::Tensor reference_video_latent;  // [C, (F'-1)/S + 1, H'/d, W'/d] the IC-LoRA reference clip
  torch::Tensor audio_latent;            // [C_a, T, M] the target audio (8 x T x 16 for LTX-2.3)
  torch::Tensor reference_audio_latent;  // [C_a, T_ref, M] the reference audio
  torch::Tensor video_context;           // [L, D_v] text context after the video connector
  torch::Tensor audio_context;           // [L, D_a] text context after the audio connector
  torch::Tensor video_context_mask;      // [L] 1 keep / 0 pad; undefined = all kept
  torch::Tensor audio_context_mask;      // [L] 1 keep / 0 pad; undefined = all kept
  double fps = 24.0;                     // the target clip's frame rate (video positions are in seconds)
};

// Random access to the training pairs (the latent cache, or memory in tests).
class TrainingData {
 public:
  virtual ~TrainingData() = default;
  virtual int64_t size() const = 0;
  virtual TrainingSample get(int64_t index) const = 0;
};

class InMemoryTrainingData : public TrainingData {
 public:
  explicit InMemoryTrainingData(std::vector<TrainingSample> samples) : samples_(std::move(samples)) {}
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  TrainingSample get(int64_t index) const override { return samples_.at(static_cast<size_t>(index)); }

 private:
  std::vector<TrainingSample> samples_;
};

// The order the trainer visits the pairs in (trainer.md §2.1: shuffle=True, batch 1, epochs repeat until
// the step count is reached): each epoch is a permutation drawn from a generator seeded with (seed,
// epoch), so the pair of any step follows from the seed and the step alone and a resumed run continues
// with the same order without storing it.
class DataOrder {
 public:
  DataOrder(int64_t size, uint64_t seed);
  // The pair index of optimizer step `step` (1-based).
  int64_t index_at_step(int64_t step);

 private:
  int64_t size_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> permutation_;
};

}  // namespace avtrain::train
