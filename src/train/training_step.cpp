#include "train/training_step.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <string>

#include "core/error.h"
#include "models/transformer/patchify.h"
#include "train/flow_matching.h"

namespace avtrain::train {
namespace {

std::string shape_text(const torch::Tensor& tensor) {
  return fmt::format("[{}]", fmt::join(tensor.sizes().vec(), ", "));
}

void require(bool ok, const std::string& message) {
  if (!ok) throw core::InvalidInput(message);
}

// The defined 4-D latent `name` or an error.
void require_latent(const torch::Tensor& tensor, int64_t dims, const char* name) {
  require(tensor.defined(), fmt::format("training sample field {} is missing", name));
  require(tensor.dim() == dims, fmt::format("training sample field {} has shape {}, expected {} dimensions",
                                            name, shape_text(tensor), dims));
}

// The context mask as [1, L]; absent (the connector's output, all kept) stays absent: a mask of zeros
// would change no score but keep the attention off the fused kernels that take none (flash).
torch::Tensor context_mask(const torch::Tensor& mask, torch::Device device) {
  if (!mask.defined()) return {};
  return mask.reshape({1, -1}).to(device, torch::kInt64);
}

struct NoisedStream {
  torch::Tensor noisy, target, sigma;  // [1, N, C], [1, N, C], [1]
};

// §2.3-§2.4 for one modality: sigma, then noise, in the reference's draw order.
NoisedStream noise_stream(const torch::Tensor& x0, const ShiftedLogitNormalTimestepSampler& sampler,
                          at::Generator& generator, torch::Device device) {
  NoisedStream stream;
  stream.sigma = sampler.sample(1, x0.size(1), generator, torch::kCPU);
  // Drawn in float32 on the CPU generator so that a run is the same on every device, then rounded to the
  // latent's dtype as randn_like(x0) would give it.
  const auto noise = at::normal(0.0, 1.0, x0.sizes(), generator).to(x0.scalar_type());
  const auto x0_device = x0.to(device);
  const auto noise_device = noise.to(device);
  stream.sigma = stream.sigma.to(device);
  stream.noisy = noisy_latent(x0_device, noise_device, stream.sigma).to(torch::kFloat32);
  stream.target = velocity_target(x0_device, noise_device);
  return stream;
}

// [reference | target] of latent, timesteps (0 on the reference), positions and loss mask.
void assemble(models::Modality& modality, torch::Tensor& loss_mask, const NoisedStream& stream,
              const torch::Tensor& reference_tokens, const torch::Tensor& target_positions,
              const torch::Tensor& reference_positions, torch::Device device) {
  const int64_t n_target = stream.noisy.size(1);
  const int64_t n_reference = reference_tokens.defined() ? reference_tokens.size(1) : 0;
  const auto target_timesteps = token_timesteps(stream.sigma.to(torch::kFloat32), n_target);
  const auto bool_options = torch::TensorOptions(torch::kBool).device(device);
  if (n_reference > 0) {
    modality.latent = torch::cat({reference_tokens.to(device, torch::kFloat32), stream.noisy}, 1);
    modality.timesteps =
        torch::cat({torch::zeros({1, n_reference}, target_timesteps.options()), target_timesteps}, 1);
    modality.positions = torch::cat({reference_positions, target_positions}, 2).to(device);
    loss_mask = torch::cat(
        {torch::zeros({1, n_reference}, bool_options), torch::ones({1, n_target}, bool_options)}, 1);
  } else {
    modality.latent = stream.noisy;
    modality.timesteps = target_timesteps;
    modality.positions = target_positions.to(device);
    loss_mask = torch::ones({1, n_target}, bool_options);
  }
  modality.sigma = stream.sigma.to(torch::kFloat32);
}

}  // namespace

void check_sample(const TrainingSample& sample, const models::TransformerConfig& config,
                  const TrainingStepOptions& options) {
  const int64_t d = options.spatial_factor, s = options.temporal_factor;
  require(d >= 1 && s >= 1, fmt::format("reference factors d={} and S={} must be at least 1", d, s));
  require(sample.fps > 0, fmt::format("training sample fps {} must be positive", sample.fps));
  require_latent(sample.video_latent, 4, "video_latent");
  require(sample.video_latent.size(0) == config.in_channels,
          fmt::format("training sample field video_latent has shape {}, the transformer takes {} channels",
                      shape_text(sample.video_latent), config.in_channels));
  const int64_t frames = sample.video_latent.size(1), height = sample.video_latent.size(2),
                width = sample.video_latent.size(3);
  if (sample.reference_video_latent.defined()) {
    require_latent(sample.reference_video_latent, 4, "reference_video_latent");
    const auto& ref = sample.reference_video_latent;
    require((frames - 1) % s == 0 && height % d == 0 && width % d == 0 && ref.size(0) == config.in_channels &&
                ref.size(1) == (frames - 1) / s + 1 && ref.size(2) * d == height && ref.size(3) * d == width,
            fmt::format(
                "training sample field reference_video_latent has shape {}; for a target of shape {} with "
                "d={} and S={} it must be [{}, (F'-1)/S + 1, H'/d, W'/d] with S dividing F'-1 and d "
                "dividing H' and W'",
                shape_text(ref), shape_text(sample.video_latent), d, s, config.in_channels));
  }
  require_latent(sample.audio_latent, 3, "audio_latent");
  require(sample.audio_latent.size(0) * sample.audio_latent.size(2) == config.audio_in_channels,
          fmt::format(
              "training sample field audio_latent has shape {}, the transformer takes channels x mel bins "
              "= {}",
              shape_text(sample.audio_latent), config.audio_in_channels));
  if (sample.reference_audio_latent.defined()) {
    require_latent(sample.reference_audio_latent, 3, "reference_audio_latent");
    require(sample.reference_audio_latent.size(0) == sample.audio_latent.size(0) &&
                sample.reference_audio_latent.size(2) == sample.audio_latent.size(2),
            fmt::format("training sample field reference_audio_latent has shape {}, expected [{}, T_ref, {}]",
                        shape_text(sample.reference_audio_latent), sample.audio_latent.size(0),
                        sample.audio_latent.size(2)));
  }
  for (const auto& [context, name, dim] :
       {std::tuple{sample.video_context, "video_context", config.cross_attention_dim},
        std::tuple{sample.audio_context, "audio_context", config.audio_cross_attention_dim}}) {
    require(context.defined() && context.dim() == 2 && context.size(1) == dim,
            fmt::format("training sample field {} has shape {}, expected [L, {}]", name,
                        context.defined() ? shape_text(context) : "(none)", dim));
  }
}

StepInputs build_step_inputs(const TrainingSample& sample, const TrainingStepOptions& options,
                             at::Generator& generator, torch::Device device) {
  const ShiftedLogitNormalTimestepSampler sampler(options.sampler);
  StepInputs inputs;

  // Video (§2.2): target tokens frame-major; the reference on its own grid, scaled by d, shifted by S.
  const auto& v = sample.video_latent;
  const auto video_x0 = models::patchify_video(v.unsqueeze(0));
  const auto video = noise_stream(video_x0, sampler, generator, device);
  torch::Tensor video_reference, video_reference_positions;
  if (sample.reference_video_latent.defined()) {
    const auto& r = sample.reference_video_latent;
    video_reference = models::patchify_video(r.unsqueeze(0));
    video_reference_positions =
        models::reference_video_positions(r.size(1), r.size(2), r.size(3), sample.fps, options.spatial_factor,
                                          options.temporal_factor, options.video_factors);
  }
  assemble(inputs.video, inputs.video_loss_mask, video, video_reference,
           models::video_positions(v.size(1), v.size(2), v.size(3), sample.fps, options.video_factors),
           video_reference_positions, device);
  inputs.video_target = video.target;
  inputs.video_reference_tokens = video_reference.defined() ? video_reference.size(1) : 0;

  // Audio: target and reference share the 0-based timeline (§2.2, no offset).
  const auto audio_x0 = models::patchify_audio(sample.audio_latent.unsqueeze(0));
  const auto audio = noise_stream(audio_x0, sampler, generator, device);
  torch::Tensor audio_reference, audio_reference_positions;
  if (sample.reference_audio_latent.defined()) {
    audio_reference = models::patchify_audio(sample.reference_audio_latent.unsqueeze(0));
    audio_reference_positions = models::audio_positions(audio_reference.size(1), options.audio_timing);
  }
  assemble(inputs.audio, inputs.audio_loss_mask, audio, audio_reference,
           models::audio_positions(audio_x0.size(1), options.audio_timing), audio_reference_positions,
           device);
  inputs.audio_target = audio.target;
  inputs.audio_reference_tokens = audio_reference.defined() ? audio_reference.size(1) : 0;

  inputs.video.context = sample.video_context.unsqueeze(0).to(device);
  inputs.video.context_mask = context_mask(sample.video_context_mask, device);
  inputs.audio.context = sample.audio_context.unsqueeze(0).to(device);
  inputs.audio.context_mask = context_mask(sample.audio_context_mask, device);
  return inputs;
}

StepLoss training_loss(models::TransformerModelImpl& model, const StepInputs& inputs) {
  const auto out = model.forward(inputs.video, inputs.audio);
  StepLoss loss;
  loss.video = masked_mse(out.video.to(torch::kFloat32), inputs.video_target.to(torch::kFloat32),
                          inputs.video_loss_mask)
                   .mean();
  loss.audio = masked_mse(out.audio.to(torch::kFloat32), inputs.audio_target.to(torch::kFloat32),
                          inputs.audio_loss_mask)
                   .mean();
  loss.total = loss.video + loss.audio;
  return loss;
}

}  // namespace avtrain::train
