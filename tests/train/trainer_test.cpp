// The training loop on the tiny transformer with synthetic cached latents: the adapters overfit a fixed
// pair set, resume continues bit for bit, a non-finite loss stops cleanly, the delivered file has the key
// set, dtype, fold and metadata of DECISIONS.md §26, and metrics are logged per step.

#include "train/trainer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "testing/temp_dir.h"
#include "tiny_training.h"

namespace avtrain::train {
namespace {

namespace fs = std::filesystem;

InMemoryTrainingData pairs(int count) {
  std::vector<TrainingSample> samples;
  for (int i = 0; i < count; ++i) samples.push_back(tiny::tiny_sample(100 + i));
  return InMemoryTrainingData(samples);
}

TrainerOptions tiny_options(const fs::path& dir, int64_t steps) {
  TrainerOptions options;
  options.steps = steps;
  options.learning_rate = 2e-3;
  options.lora = {.rank = 4, .alpha = 4};
  options.output_dir = dir;
  options.checkpoint_interval = 5;
  options.log_interval = 0;
  return options;
}

// The mean loss over the pairs at fixed draws (sigma and noise from seed 1234), without gradients.
double fixed_loss(models::TransformerModel& model, const TrainingData& data) {
  const torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(1234);
  double total = 0;
  int count = 0;
  for (int repeat = 0; repeat < 4; ++repeat) {
    for (int64_t i = 0; i < data.size(); ++i) {
      total += training_loss(*model, build_step_inputs(data.get(i), {}, generator, torch::kCPU))
                   .total.item<double>();
      ++count;
    }
  }
  return total / count;
}

std::map<std::string, torch::Tensor> lora_tensors(const LoraSet& lora) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& adapter : lora.adapters()) {
    tensors[adapter.path + ".A"] = adapter.linear->lora_A.detach().clone();
    tensors[adapter.path + ".B"] = adapter.linear->lora_B.detach().clone();
  }
  return tensors;
}

// The adapters after `steps` steps of a run never interrupted: what a resumed run must reproduce.
std::map<std::string, torch::Tensor> uninterrupted_lora(const InMemoryTrainingData& data, int64_t steps) {
  avtrain::testing::TempDir dir;
  auto model = tiny::tiny_model();
  Trainer trainer(model, tiny_options(dir.path(), steps));
  core::Progress progress("training", false);
  trainer.train(data, progress);
  return lora_tensors(trainer.lora());
}

TEST(Trainer, AdaptersOverfitAFixedPairSet) {
  avtrain::testing::TempDir dir;
  const auto data = pairs(2);
  auto model = tiny::tiny_model();
  auto options = tiny_options(dir.path(), 300);
  options.learning_rate = 1e-2;  // high for a quick overfit of two pairs
  options.checkpoint_interval = 0;
  options.gradient_checkpointing = false;
  Trainer trainer(model, options);
  const double before = fixed_loss(model, data);
  core::Progress progress("training", false);
  std::string last_message;
  progress.add_listener([&](const core::ProgressEvent& event) { last_message = event.message; });
  const auto result = trainer.train(data, progress);
  const double after = fixed_loss(model, data);
  EXPECT_EQ(last_message.rfind("300/300 steps, loss ", 0), 0u) << last_message;
  EXPECT_EQ(result.steps, 300);
  EXPECT_LT(after, 0.7 * before) << "before " << before << ", after " << after;
  RecordProperty("loss_before", std::to_string(before));
  RecordProperty("loss_after", std::to_string(after));
  std::cout << "fixed-pair loss before " << before << ", after 300 steps " << after << "\n";
}

TEST(Trainer, ResumeContinuesExactlyAndKeepsTheLastThreeCheckpoints) {
  avtrain::testing::TempDir split_dir;
  const auto data = pairs(3);
  const auto straight = uninterrupted_lora(data, 20);
  {
    auto model = tiny::tiny_model();
    Trainer trainer(model, tiny_options(split_dir.path(), 20));
    core::Progress progress("training", false);
    progress.add_listener([&](const core::ProgressEvent& event) {
      if (event.scope_fraction >= 0.5) progress.cancel();
    });
    EXPECT_THROW(trainer.train(data, progress), core::Cancelled);
  }
  std::vector<int64_t> checkpointed;
  TrainResult result;
  {
    auto model = tiny::tiny_model();
    auto options = tiny_options(split_dir.path(), 20);
    options.on_checkpoint = [&](const CheckpointInfo& info) {
      checkpointed.push_back(info.step);
      EXPECT_TRUE(fs::exists(info.lora_file));
    };
    Trainer trainer(model, options);
    core::Progress progress("training", false);
    result = trainer.train(data, progress);
    EXPECT_EQ(result.first_step, 11);
    EXPECT_EQ(result.steps, 20);
    const auto resumed = lora_tensors(trainer.lora());
    ASSERT_EQ(resumed.size(), straight.size());
    for (const auto& [name, tensor] : straight) {
      EXPECT_LE((resumed.at(name) - tensor).abs().max().item<double>(), 1e-6) << name;
    }
    EXPECT_GT(straight.begin()->second.abs().max().item<double>(), 0.0);
  }
  EXPECT_EQ(checkpointed, (std::vector<int64_t>{15, 20}));
  std::vector<int64_t> kept;
  for (const auto& info : CheckpointStore(split_dir.path() / "checkpoints").list()) kept.push_back(info.step);
  EXPECT_EQ(kept, (std::vector<int64_t>{10, 15, 20}));
  EXPECT_EQ(result.final_checkpoint.step, 20);

  // metrics.jsonl: one line per step 1..20 with every field, the resumed half replacing nothing twice.
  std::ifstream in(split_dir.path() / "metrics.jsonl");
  std::string line;
  int64_t expected_step = 1;
  while (std::getline(in, line)) {
    const auto json = nlohmann::json::parse(line);
    EXPECT_EQ(json.at("step").get<int64_t>(), expected_step++);
    for (const char* key : {"loss", "video_loss", "audio_loss", "learning_rate", "grad_norm", "step_seconds",
                            "tokens_per_second"}) {
      EXPECT_TRUE(json.contains(key)) << key;
    }
    EXPECT_NEAR(json["loss"].get<double>(),
                json["video_loss"].get<double>() + json["audio_loss"].get<double>(), 1e-9);
  }
  EXPECT_EQ(expected_step, 21);
}

// DECISIONS.md §34: checkpoints every checkpoint_interval steps and at the caller's extra steps (the
// job's validation steps), never more often; an extra cadence sharing no factor with the interval does
// not turn into a checkpoint per step.
TEST(Trainer, CheckpointsAtTheIntervalAndAtTheExtraStepsOnly) {
  avtrain::testing::TempDir dir;
  const auto data = pairs(2);
  auto model = tiny::tiny_model();
  auto options = tiny_options(dir.path(), 20);
  options.checkpoint_interval = 10;
  options.keep_checkpoints = 10;
  options.extra_checkpoint_due = [](int64_t step) { return step % 7 == 0; };
  std::vector<int64_t> checkpointed;
  options.on_checkpoint = [&](const CheckpointInfo& info) { checkpointed.push_back(info.step); };
  Trainer trainer(model, options);
  core::Progress progress("training", false);
  trainer.train(data, progress);
  EXPECT_EQ(checkpointed, (std::vector<int64_t>{7, 10, 14, 20}));
}

// Issue 29: a damaged newest checkpoint (truncated, or one flipped bit) is set aside with a warning and
// training resumes from the one before it, to the same adapters as a run never interrupted.
TEST(Trainer, ADamagedLatestCheckpointFallsBackToTheOneBefore) {
  const auto data = pairs(3);
  const auto straight = uninterrupted_lora(data, 20);
  for (const bool truncate : {false, true}) {
    avtrain::testing::TempDir dir;
    {
      auto model = tiny::tiny_model();
      Trainer trainer(model, tiny_options(dir.path(), 20));
      core::Progress progress("training", false);
      progress.add_listener([&](const core::ProgressEvent& event) {
        if (event.scope_fraction >= 0.75) progress.cancel();
      });
      EXPECT_THROW(trainer.train(data, progress), core::Cancelled);
    }
    const CheckpointStore store(dir.path() / "checkpoints");
    ASSERT_EQ(store.latest()->step, 15);
    const auto state_file = store.latest()->state_file;
    EXPECT_FALSE(CheckpointStore::damage(*store.latest()));
    if (truncate) {
      std::filesystem::resize_file(state_file, std::filesystem::file_size(state_file) - 100);
    } else {
      std::fstream file(state_file, std::ios::binary | std::ios::in | std::ios::out);
      file.seekg(static_cast<std::streamoff>(std::filesystem::file_size(state_file) / 2));
      char byte = 0;
      file.read(&byte, 1);
      byte = static_cast<char>(byte ^ 0x10);
      file.seekp(static_cast<std::streamoff>(std::filesystem::file_size(state_file) / 2));
      file.write(&byte, 1);
    }
    ASSERT_TRUE(CheckpointStore::damage(*store.latest())) << (truncate ? "truncated" : "bit flip");
    std::vector<std::string> warnings;
    core::LogCapture capture([&](const core::LogLine& line) {
      if (line.level == "warning") warnings.push_back(line.message);
    });
    auto model = tiny::tiny_model();
    Trainer trainer(model, tiny_options(dir.path(), 20));
    core::Progress progress("training", false);
    const auto result = trainer.train(data, progress);
    EXPECT_EQ(result.first_step, 11) << "resumed from step 10, the checkpoint before the damaged one";
    ASSERT_FALSE(warnings.empty());
    EXPECT_NE(warnings.front().find("checkpoint of step 15 is damaged"), std::string::npos)
        << warnings.front();
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "checkpoints" / "step_000015.damaged"));
    const auto resumed = lora_tensors(trainer.lora());
    for (const auto& [name, tensor] : straight) {
      EXPECT_LE((resumed.at(name) - tensor).abs().max().item<double>(), 1e-6) << name;
    }
  }
}

// A training state that reads but does not fit (one from before checkpoints carried checksums, or damage a
// checksum cannot see) is set aside like a damaged one:
// a missing tensor or Adam step counts of another optimizer fall back to the checkpoint before; with every
// checkpoint so, the run stops and says to start over; adapter shapes that differ are refused by name.
TEST(Trainer, ATrainingStateThatDoesNotFitFallsBackOrIsRefusedByName) {
  const auto data = pairs(3);
  // Trains 20 steps, stopped at 15: checkpoints at 5, 10 and 15.
  const auto interrupted_run = [&](const fs::path& dir) {
    auto model = tiny::tiny_model();
    Trainer trainer(model, tiny_options(dir, 20));
    core::Progress progress("training", false);
    progress.add_listener([&](const core::ProgressEvent& event) {
      if (event.scope_fraction >= 0.75) progress.cancel();
    });
    EXPECT_THROW(trainer.train(data, progress), core::Cancelled);
  };
  // Rewrites a checkpoint's state file through `change` (tensors, metadata): a well-formed file.
  const auto rewrite = [](const CheckpointInfo& checkpoint,
                          const std::function<void(core::NamedTensors&, core::Metadata&)>& change) {
    core::NamedTensors tensors;
    core::Metadata metadata;
    {
      const auto file = core::SafetensorsFile::open(checkpoint.state_file);
      for (const auto& entry : file.entries())
        tensors.emplace_back(entry.name, core::read_tensor(file, entry).clone());
      metadata = file.metadata();
    }
    change(tensors, metadata);
    core::write_tensors(checkpoint.state_file, tensors, metadata);
    // Without its checksums file (as checkpoints written before checksums) the checkpoint is trusted as it
    // is, so what does not fit is found only while it is read.
    fs::remove(checkpoint.dir / "checksums.json");
  };
  const auto resume = [&](const fs::path& dir, std::vector<std::string>& warnings) {
    core::LogCapture capture([&](const core::LogLine& line) {
      if (line.level == "warning") warnings.push_back(line.message);
    });
    auto model = tiny::tiny_model();
    Trainer trainer(model, tiny_options(dir, 20));
    core::Progress progress("training", false);
    return trainer.train(data, progress).first_step;
  };
  const auto drop_first_lora_tensor = [](core::NamedTensors& tensors, core::Metadata&) {
    for (auto it = tensors.begin(); it != tensors.end(); ++it) {
      if (it->first.rfind("lora.", 0) == 0) {
        tensors.erase(it);
        return;
      }
    }
  };

  {  // the latest lacks a tensor; the one before has Adam step counts of another optimizer
    avtrain::testing::TempDir dir;
    interrupted_run(dir.path());
    const CheckpointStore store(dir.path() / "checkpoints");
    const auto checkpoints = store.list();
    ASSERT_EQ(checkpoints.size(), 3u);
    rewrite(checkpoints[2], drop_first_lora_tensor);
    rewrite(checkpoints[1],
            [](core::NamedTensors&, core::Metadata& metadata) { metadata["avtrain.adamw_step"] = "[1]"; });
    std::vector<std::string> warnings;
    EXPECT_EQ(resume(dir.path(), warnings), 6) << "resumed from step 5";
    ASSERT_EQ(warnings.size(), 2u);
    EXPECT_NE(warnings[0].find("checkpoint of step 15 is damaged (training state"), std::string::npos)
        << warnings[0];
    EXPECT_NE(warnings[0].find("lacks tensor lora."), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[1].find("checkpoint of step 10 is damaged"), std::string::npos) << warnings[1];
  }
  {  // every checkpoint lacks a tensor: found only while reading, so the run stops and says so
    avtrain::testing::TempDir dir;
    interrupted_run(dir.path());
    for (const auto& checkpoint : CheckpointStore(dir.path() / "checkpoints").list())
      rewrite(checkpoint, drop_first_lora_tensor);
    std::vector<std::string> warnings;
    try {
      resume(dir.path(), warnings);
      ADD_FAILURE() << "no exception";
    } catch (const core::InternalError& error) {
      EXPECT_NE(std::string(error.what()).find("was damaged, one of them found only while it was being read"),
                std::string::npos)
          << error.what();
    }
  }
  {  // adapter shapes that differ from this run's
    avtrain::testing::TempDir dir;
    interrupted_run(dir.path());
    const auto latest = *CheckpointStore(dir.path() / "checkpoints").latest();
    rewrite(latest, [](core::NamedTensors& tensors, core::Metadata&) {
      for (auto& [name, tensor] : tensors) {
        if (name.rfind("lora.", 0) == 0) tensor = torch::zeros({tensor.size(0) + 1, tensor.size(1)});
      }
    });
    std::vector<std::string> warnings;
    try {
      resume(dir.path(), warnings);
      ADD_FAILURE() << "no exception";
    } catch (const core::InvalidInput& error) {
      EXPECT_NE(std::string(error.what()).find("cannot resume from"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("has shape"), std::string::npos) << error.what();
    }
  }
}

// Returns NaN latents from the `poison_from`-th read on.
class PoisonedData : public TrainingData {
 public:
  PoisonedData(InMemoryTrainingData data, int poison_from)
      : data_(std::move(data)), poison_from_(poison_from) {}
  int64_t size() const override { return data_.size(); }
  TrainingSample get(int64_t index) const override {
    auto sample = data_.get(index);
    if (++reads_ >= poison_from_) sample.video_latent = torch::full_like(sample.video_latent, NAN);
    return sample;
  }

 private:
  InMemoryTrainingData data_;
  int poison_from_;
  mutable int reads_ = 0;
};

TEST(Trainer, NonFiniteLossStopsNamingTheStepAndKeepsTheLastGoodCheckpoint) {
  avtrain::testing::TempDir dir;
  const PoisonedData data(pairs(2), 7);
  auto model = tiny::tiny_model();
  auto options = tiny_options(dir.path(), 20);
  options.checkpoint_interval = 3;
  Trainer trainer(model, options);
  core::Progress progress("training", false);
  try {
    trainer.train(data, progress);
    FAIL() << "expected core::InternalError";
  } catch (const core::InternalError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("step 7"), std::string::npos) << message;
    EXPECT_NE(message.find("not finite"), std::string::npos) << message;
    EXPECT_NE(message.find("step 6"), std::string::npos) << message;  // the last good checkpoint
  }
  const auto latest = CheckpointStore(dir.path() / "checkpoints").latest();
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->step, 6);
  // The adapters were not touched by the failing step, and the checkpoint holds finite weights.
  for (const auto& adapter : trainer.lora().adapters()) {
    EXPECT_TRUE(torch::isfinite(adapter.linear->lora_A).all().item<bool>());
    EXPECT_TRUE(torch::isfinite(adapter.linear->lora_B).all().item<bool>());
  }
  const auto file = core::SafetensorsFile::open(latest->lora_file);
  for (const auto& entry : file.entries()) {
    EXPECT_TRUE(torch::isfinite(core::read_tensor(file, entry)).all().item<bool>()) << entry.name;
  }
}

TEST(Trainer, DeliveredFileHasTheKeySetFoldAndMetadataAndLoadsBack) {
  avtrain::testing::TempDir dir;
  std::vector<TrainingSample> samples{tiny::tiny_sample(7, 3, 2, 2, 2, 2)};
  const InMemoryTrainingData data(samples);
  auto model = tiny::tiny_model();
  auto options = tiny_options(dir.path(), 3);
  options.lora = {.rank = 2, .alpha = 4};  // scale 2, to see the fold
  options.step = {.spatial_factor = 2, .temporal_factor = 2};
  options.file_info = {.trigger_phrase = "zx style", .base_model = "ltx-2.3-22b-dev"};
  Trainer trainer(model, options);
  core::Progress progress("training", false);
  const auto result = trainer.train(data, progress);
  ASSERT_EQ(result.final_checkpoint.step, 3);

  const auto file = core::SafetensorsFile::open(result.final_checkpoint.lora_file);
  std::set<std::string> keys, expected;
  for (const auto& entry : file.entries()) keys.insert(entry.name);
  for (int block = 0; block < 2; ++block) {
    for (const char* module :
         {"attn1", "attn2", "audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn"}) {
      for (const char* projection : {"to_q", "to_k", "to_v", "to_out.0"}) {
        for (const char* half : {"lora_A", "lora_B"}) {
          expected.insert(fmt::format("diffusion_model.transformer_blocks.{}.{}.{}.{}.weight", block, module,
                                      projection, half));
        }
      }
    }
  }
  EXPECT_EQ(keys, expected);
  for (const auto& adapter : trainer.lora().adapters()) {
    const auto key = "diffusion_model." + adapter.path;
    const auto a = core::read_tensor(file, *file.find(key + ".lora_A.weight"));
    const auto b = core::read_tensor(file, *file.find(key + ".lora_B.weight"));
    ASSERT_EQ(a.scalar_type(), torch::kBFloat16);
    ASSERT_EQ(b.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, adapter.linear->in_features}));
    EXPECT_EQ(b.sizes(), (std::vector<int64_t>{adapter.linear->out_features, 2}));
    const auto trained =
        2.0 * torch::matmul(adapter.linear->lora_B.detach(), adapter.linear->lora_A.detach());
    const auto folded = torch::matmul(b.to(torch::kFloat32), a.to(torch::kFloat32));
    EXPECT_GT(trained.abs().max().item<float>(), 0.0f) << key;
    EXPECT_LE((folded - trained).abs().max().item<float>(), 1e-2f * trained.abs().max().item<float>()) << key;
  }
  const auto& metadata = file.metadata();
  EXPECT_EQ(metadata.at("reference_downscale_factor"), "2");
  EXPECT_EQ(metadata.at("reference_spatial_scale_factor"), "2");
  EXPECT_EQ(metadata.at("ss_reference_downscale_factor"), "2");
  EXPECT_EQ(metadata.at("reference_temporal_scale_factor"), "2");
  EXPECT_EQ(metadata.at("avtrain.training_type"), "av2av");
  EXPECT_EQ(metadata.at("avtrain.trigger_phrase"), "zx style");
  EXPECT_EQ(metadata.at("avtrain.rank"), "2");
  EXPECT_EQ(metadata.at("avtrain.base_model"), "ltx-2.3-22b-dev");
  const auto info = read_lora_file_info(metadata);
  EXPECT_EQ(info.spatial_factor, 2);
  EXPECT_EQ(info.temporal_factor, 2);

  // Loading the file back: as the start of a new run (same function up to bf16 rounding; a negligible
  // learning rate keeps the one step from moving the weights) ...
  auto fresh = tiny::tiny_model();
  auto restart = options;
  restart.output_dir = dir.path() / "second";
  restart.initial_lora = result.final_checkpoint.lora_file;
  restart.steps = 1;
  restart.learning_rate = 1e-12;
  Trainer second(fresh, restart);
  core::Progress second_progress("training", false);
  EXPECT_EQ(second.train(data, second_progress).first_step, 1);
  for (size_t i = 0; i < second.lora().adapters().size(); ++i) {
    const auto& loaded = second.lora().adapters()[i].linear;
    const auto& trained = trainer.lora().adapters()[i].linear;
    EXPECT_TRUE(torch::allclose(loaded->lora_A, trained->lora_A, 1e-2, 1e-3));
    EXPECT_TRUE(torch::allclose(loaded->lora_B, trained->lora_B, 1e-2, 1e-3));
  }
  // ... and for inference, fused into a plain model: the same outputs as the adapters.
  auto fused = tiny::tiny_model();
  EXPECT_EQ(fuse_lora_file(*fused, result.final_checkpoint.lora_file, 1.0), 48);
  auto generator = at::detail::createCPUGenerator(3);
  const auto inputs = build_step_inputs(samples[0], options.step, generator, torch::kCPU);
  const torch::NoGradGuard no_grad;
  const auto with_adapters = fresh->forward(inputs.video, inputs.audio).video;
  const auto with_fused = fused->forward(inputs.video, inputs.audio).video;
  EXPECT_TRUE(torch::allclose(with_fused, with_adapters, 1e-3, 1e-4));
}

TEST(Trainer, RefusesToResumeACheckpointOfOtherSettings) {
  avtrain::testing::TempDir dir;
  const auto data = pairs(1);
  {
    auto model = tiny::tiny_model();
    Trainer trainer(model, tiny_options(dir.path(), 2));
    core::Progress progress("training", false);
    trainer.train(data, progress);
  }
  auto model = tiny::tiny_model();
  auto options = tiny_options(dir.path(), 4);
  options.seed = 7;
  Trainer trainer(model, options);
  core::Progress progress("training", false);
  try {
    trainer.train(data, progress);
    FAIL() << "expected core::InvalidInput";
  } catch (const core::InvalidInput& error) {
    EXPECT_NE(std::string(error.what()).find("avtrain.seed=42"), std::string::npos) << error.what();
  }
  // Without resuming, the same folder starts over.
  options.resume = false;
  Trainer fresh(tiny::tiny_model(), options);
  EXPECT_EQ(fresh.train(data, progress).first_step, 1);
}

TEST(LoraFile, MetadataOmitsFactorsOfOneAndReadsBack) {
  const auto metadata = lora_file_metadata({.rank = 32, .base_model = "ltx-2.3-22b-dev"});
  EXPECT_FALSE(metadata.count("reference_downscale_factor"));
  EXPECT_FALSE(metadata.count("reference_temporal_scale_factor"));
  EXPECT_EQ(metadata.at("avtrain.rank"), "32");
  const auto info = read_lora_file_info(metadata);
  EXPECT_EQ(info.spatial_factor, 1);
  EXPECT_EQ(info.temporal_factor, 1);
  EXPECT_EQ(info.rank, 32);
  EXPECT_THROW(read_lora_file_info({{"reference_downscale_factor", "two"}}), core::InvalidInput);
}

TEST(DataOrder, EachEpochIsAPermutationAndFollowsTheSeed) {
  DataOrder order(5, 42), same(5, 42), other(5, 43);
  std::vector<int64_t> first, again, different;
  for (int64_t step = 1; step <= 10; ++step) {
    first.push_back(order.index_at_step(step));
    again.push_back(same.index_at_step(step));
    different.push_back(other.index_at_step(step));
  }
  EXPECT_EQ(first, again);
  EXPECT_NE(first, different);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::set<int64_t> seen(first.begin() + epoch * 5, first.begin() + epoch * 5 + 5);
    EXPECT_EQ(seen.size(), 5u);
  }
  EXPECT_EQ(DataOrder(5, 42).index_at_step(7), first[6]);  // random access, as after a resume
}

}  // namespace
}  // namespace avtrain::train
