#include "train/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/log.h"
#include "train/lr_schedule.h"

namespace avtrain::train {
namespace {

using Clock = std::chrono::steady_clock;

std::string last_good_text(const CheckpointStore& store) {
  const auto latest = store.latest();
  return latest ? fmt::format("the last good checkpoint (step {}) is kept in {}", latest->step,
                              latest->dir.string())
                : std::string("no checkpoint was written before it");
}

}  // namespace

Trainer::Trainer(models::TransformerModel model, TrainerOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  if (options_.steps < 1)
    throw core::InvalidInput(fmt::format("steps={} must be at least 1", options_.steps));
  if (options_.output_dir.empty())
    throw core::InvalidInput("the trainer needs an output folder (output_dir)");
  // The base stays frozen: only the adapters created here are given to the optimizer (trainer.md §3).
  for (auto& parameter : model_->parameters()) parameter.set_requires_grad(false);
  lora_ = LoraSet::inject(*model_, options_.lora);
  auto adamw = options_.adamw;
  adamw.learning_rate = options_.learning_rate;
  optimizer_ = make_adamw(lora_.parameters(), adamw);
}

core::Metadata Trainer::fingerprint() const {
  return {{"avtrain.rank", std::to_string(options_.lora.rank)},
          {"avtrain.alpha", fmt::format("{}", options_.lora.alpha)},
          {"avtrain.targets", fmt::format("{}", fmt::join(options_.lora.targets, ","))},
          {"avtrain.adapters", std::to_string(lora_.adapters().size())},
          {"avtrain.seed", std::to_string(options_.seed)},
          {"avtrain.steps", std::to_string(options_.steps)},
          {"avtrain.learning_rate", fmt::format("{}", options_.learning_rate)},
          {"avtrain.reference_factors",
           fmt::format("{},{}", options_.step.spatial_factor, options_.step.temporal_factor)}};
}

core::Metadata Trainer::lora_metadata() const {
  auto info = options_.file_info;
  info.spatial_factor = options_.step.spatial_factor;
  info.temporal_factor = options_.step.temporal_factor;
  info.rank = options_.lora.rank;
  return lora_file_metadata(info);
}

TrainResult Trainer::train(const TrainingData& data, core::Progress& progress) {
  auto& log = core::logger("train");
  const auto device = model_->device();
  const CheckpointStore store(options_.output_dir / "checkpoints", options_.keep_checkpoints);
  const auto fingerprint = this->fingerprint();
  const auto lora_metadata = this->lora_metadata();
  auto generator = at::detail::createCPUGenerator(options_.seed);

  TrainResult result;
  int64_t done = 0;
  if (!options_.resume && std::filesystem::exists(store.dir())) {
    // Starting over: another run's checkpoints would otherwise mix with this run's in pruning and resume.
    log.warn("resume is off: removing the earlier checkpoints in {}", store.dir().string());
    std::filesystem::remove_all(store.dir());
  }
  // A damaged newest checkpoint is set aside and the one before it restored (training_state.h).
  const auto latest =
      options_.resume ? store.restore_latest(lora_, *optimizer_, generator, fingerprint) : std::nullopt;
  if (latest) {
    done = latest->step;
    result.final_checkpoint = *latest;
    log.info("resuming from the checkpoint of step {} in {}", done, latest->dir.string());
    if (options_.on_resume) options_.on_resume(*latest);
  } else if (!options_.initial_lora.empty()) {
    lora_.load(options_.initial_lora);
    log.info("starting from the LoRA weights of {}", options_.initial_lora.string());
  }
  result.first_step = done + 1;
  result.steps = done;

  MetricsLog metrics_log(options_.output_dir / "metrics.jsonl", done);
  DataOrder order(data.size(), options_.seed);
  const LinearLrSchedule schedule{options_.learning_rate, options_.steps, 1.0, options_.end_factor};
  const auto parameters = lora_.parameters();
  const double max_norm = options_.adamw.max_grad_norm > 0 ? options_.adamw.max_grad_norm
                                                           : std::numeric_limits<double>::infinity();

  model_->train();
  model_->set_gradient_checkpointing(options_.gradient_checkpointing);
  model_->set_kept_attention(options_.kept_attention_blocks);
  for (int64_t step = done + 1; step <= options_.steps; ++step) {
    const auto start = Clock::now();
    const auto sample = data.get(order.index_at_step(step));
    check_sample(sample, model_->config, options_.step);
    const auto inputs = build_step_inputs(sample, options_.step, generator, device);
    const auto loss = training_loss(*model_, inputs);
    const double video_loss = loss.video.item<double>(), audio_loss = loss.audio.item<double>();
    const double total_loss = video_loss + audio_loss;
    if (!std::isfinite(total_loss)) {
      throw core::InternalError(
          fmt::format("training stopped at step {}: the loss is not finite (video {}, audio {}); {}. Lower "
                      "the learning rate "
                      "or check the training pairs' latents",
                      step, video_loss, audio_loss, last_good_text(store)));
    }
    loss.total.backward();
    const double grad_norm = clip_grad_norm(parameters, max_norm);
    if (!std::isfinite(grad_norm)) {
      throw core::InternalError(fmt::format(
          "training stopped at step {}: the gradient norm is not finite ({}); {}. Lower the learning rate",
          step, grad_norm, last_good_text(store)));
    }
    const double learning_rate = schedule.at_step(step);
    set_learning_rate(*optimizer_, learning_rate);
    adamw_step(*optimizer_);
    clear_gradients(*optimizer_);
    if (device.is_cuda()) torch::cuda::synchronize();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    StepMetrics metrics{
        step,       options_.steps, total_loss,
        video_loss, audio_loss,     learning_rate,
        grad_norm,  seconds,        seconds > 0 ? static_cast<double>(inputs.tokens()) / seconds : 0.0};
    metrics_log.append(metrics);
    result.last_metrics = metrics;
    result.steps = step;
    if (options_.on_step) options_.on_step(metrics);
    if (options_.log_interval > 0 && (step % options_.log_interval == 0 || step == options_.steps)) {
      log.info("step {}/{}: loss {:.4f} (video {:.4f}, audio {:.4f}), lr {:.3g}, grad norm {:.3f}, {:.3f} s",
               step, options_.steps, total_loss, video_loss, audio_loss, learning_rate, grad_norm, seconds);
    }

    const bool due = (options_.checkpoint_interval > 0 && step % options_.checkpoint_interval == 0) ||
                     (options_.extra_checkpoint_due && options_.extra_checkpoint_due(step));
    if (due || step == options_.steps) {
      result.final_checkpoint = store.save(step, lora_, *optimizer_, generator, lora_metadata, fingerprint);
      if (options_.on_checkpoint) options_.on_checkpoint(result.final_checkpoint);
    }
    // The unit carries the loss so that the bar and the job status show it next to the rate and ETA.
    progress.update_count(step, options_.steps, fmt::format("steps, loss {:.4f}", total_loss));
    progress.throw_if_cancelled();
  }
  return result;
}

}  // namespace avtrain::train
