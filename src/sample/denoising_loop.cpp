#include "sample/denoising_loop.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <string>

#include "core/error.h"
#include "core/progress.h"
#include "models/transformer/patchify.h"
#include "sample/diffusion_step.h"

namespace avtrain::sample {
namespace {

// Targets (zeros, mask 1) followed by the reference tokens (clean, mask 0), B = 1.
LatentState assemble(const torch::Tensor& target_positions, int64_t target_tokens, int64_t features,
                     const torch::Tensor& reference_tokens, const torch::Tensor& reference_positions) {
  LatentState state;
  state.target_tokens = target_tokens;
  const auto options = torch::TensorOptions().dtype(torch::kFloat32);
  auto clean = torch::zeros({1, target_tokens, features}, options);
  auto mask = torch::ones({1, target_tokens, 1}, options);
  auto positions = target_positions;
  if (reference_tokens.defined()) {
    const auto n_reference = reference_tokens.size(1);
    clean = torch::cat({clean, reference_tokens.to(torch::kFloat32)}, 1);
    mask = torch::cat({mask, torch::zeros({1, n_reference, 1}, options)}, 1);
    positions = torch::cat({positions, reference_positions}, 2);
  }
  state.latent = torch::zeros_like(clean);
  state.clean_latent = clean;
  state.denoise_mask = mask;
  state.positions = positions;
  return state;
}

// The noise of one state, lerp(clean, noise, mask) (ltx-core's GaussianNoiser with noise_scale 1).
void noise_state(LatentState& state, at::Generator& generator) {
  const auto noise = torch::randn(state.clean_latent.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat32));
  const auto clean = state.clean_latent.to(torch::kFloat32);
  state.latent = clean + (noise - clean) * state.denoise_mask.to(torch::kFloat32);
}

// The batched stream input of one step: every pass's copy of the state, timesteps sigma * mask.
models::Modality batched_modality(const GuidancePlan& plan, const LatentState& state, const torch::Tensor& latent,
                                  const torch::Tensor& sigma, const torch::Tensor& context) {
  models::Modality modality;
  modality.latent = plan.repeat(latent);
  modality.timesteps = plan.repeat(state.denoise_mask * sigma);
  modality.sigma = sigma.reshape({1}).expand({modality.latent.size(0)}).contiguous();
  modality.positions = plan.repeat(state.positions);
  modality.context = context;
  modality.attention_mask = plan.repeat(state.attention_mask);
  return modality;
}

void check_state(const LatentState& state, const char* stream) {
  const auto fail = [&](const std::string& what) {
    throw core::InvalidInput(std::string("denoise: the ") + stream + " state " + what);
  };
  if (!state.latent.defined() || state.latent.dim() != 3) fail("latent must be [B, T, C]");
  const auto b = state.latent.size(0), t = state.latent.size(1);
  if (!state.denoise_mask.defined() || state.denoise_mask.sizes() != torch::IntArrayRef({b, t, 1})) {
    fail("denoise_mask must be [B, T, 1] like its latent");
  }
  if (!state.clean_latent.defined() || state.clean_latent.sizes() != state.latent.sizes()) {
    fail("clean_latent must have the latent's shape");
  }
  if (!state.positions.defined() || state.positions.dim() != 4 || state.positions.size(0) != b ||
      state.positions.size(2) != t) {
    fail("positions must be [B, axes, T, 2] for its " + std::to_string(t) + " tokens");
  }
}

// The state on the model's device: latents in the compute dtype, mask and positions float32.
LatentState to_model(const LatentState& state, torch::Device device, torch::ScalarType dtype) {
  LatentState moved = state;
  moved.latent = state.latent.to(device, dtype);
  moved.clean_latent = state.clean_latent.to(device, dtype);
  moved.denoise_mask = state.denoise_mask.to(device, torch::kFloat32);
  moved.positions = state.positions.to(device, torch::kFloat32);
  if (state.attention_mask.defined()) moved.attention_mask = state.attention_mask.to(device, torch::kFloat32);
  return moved;
}

torch::Tensor to_model(const torch::Tensor& context, torch::Device device, torch::ScalarType dtype) {
  return context.defined() ? context.to(device, dtype) : context;
}

}  // namespace

LatentState make_video_state(const torch::Tensor& reference_latent, int64_t channels, int64_t frames,
                             int64_t height, int64_t width, double fps, int64_t spatial_factor,
                             int64_t temporal_factor, const models::VideoScaleFactors& factors) {
  if (frames < 1 || height < 1 || width < 1 || channels < 1) {
    throw core::InvalidInput("make_video_state: the latent grid " + std::to_string(frames) + "x" +
                             std::to_string(height) + "x" + std::to_string(width) + " with " +
                             std::to_string(channels) + " channels is empty");
  }
  torch::Tensor reference_tokens, reference_positions;
  if (reference_latent.defined()) {
    if (reference_latent.dim() != 4 || reference_latent.size(0) != channels) {
      throw core::InvalidInput("make_video_state: the reference latent must be [" + std::to_string(channels) +
                               ", F, H, W], got " + std::to_string(reference_latent.dim()) + " dims");
    }
    reference_tokens = models::patchify_video(reference_latent.unsqueeze(0));
    reference_positions =
        models::reference_video_positions(reference_latent.size(1), reference_latent.size(2), reference_latent.size(3),
                                          fps, spatial_factor, temporal_factor, factors);
  }
  return assemble(models::video_positions(frames, height, width, fps, factors), frames * height * width, channels,
                  reference_tokens, reference_positions);
}

LatentState make_audio_state(const torch::Tensor& reference_latent, int64_t tokens, int64_t channels,
                             int64_t mel_bins, const models::AudioTiming& timing) {
  if (tokens < 1 || channels < 1 || mel_bins < 1) {
    throw core::InvalidInput("make_audio_state: " + std::to_string(tokens) + " latent frames of " +
                             std::to_string(channels) + "x" + std::to_string(mel_bins) + " features is empty");
  }
  torch::Tensor reference_tokens, reference_positions;
  if (reference_latent.defined()) {
    if (reference_latent.dim() != 3 || reference_latent.size(0) != channels || reference_latent.size(2) != mel_bins) {
      throw core::InvalidInput("make_audio_state: the reference audio latent must be [" + std::to_string(channels) +
                               ", T, " + std::to_string(mel_bins) + "]");
    }
    reference_tokens = models::patchify_audio(reference_latent.unsqueeze(0));
    reference_positions = models::audio_positions(reference_latent.size(1), timing);
  }
  return assemble(models::audio_positions(tokens, timing), tokens, channels * mel_bins, reference_tokens,
                  reference_positions);
}

void add_initial_noise(LatentState& video, LatentState& audio, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  noise_state(video, generator);
  noise_state(audio, generator);
}

models::Perturbations to_perturbations(const std::vector<PassPerturbation>& samples) {
  models::Perturbations perturbations;
  bool any = false;
  for (const auto& pass : samples) {
    std::vector<models::Perturbation> list;
    // An empty block list means "every block" to the transformer, so an STG pass without blocks adds
    // nothing (the reference's pass then equals cond, as here).
    if (!pass.skip_video_self_attn_blocks.empty()) {
      list.push_back({models::PerturbationType::skip_video_self_attention, pass.skip_video_self_attn_blocks});
    }
    if (!pass.skip_audio_self_attn_blocks.empty()) {
      list.push_back({models::PerturbationType::skip_audio_self_attention, pass.skip_audio_self_attn_blocks});
    }
    if (pass.skip_cross_modal_attn) {
      list.push_back({models::PerturbationType::skip_a2v_cross_attention, {}});
      list.push_back({models::PerturbationType::skip_v2a_cross_attention, {}});
    }
    any = any || !list.empty();
    perturbations.samples.push_back(std::move(list));
  }
  if (!any) perturbations.samples.clear();
  return perturbations;
}

std::pair<torch::Tensor, torch::Tensor> denoise(models::TransformerModelImpl& model, const LatentState& video_in,
                                                const LatentState& audio_in, const PromptContexts& contexts_in,
                                                const torch::Tensor& sigmas_in, const DenoiseOptions& options) {
  check_state(video_in, "video");
  check_state(audio_in, "audio");
  if (!sigmas_in.defined() || sigmas_in.dim() != 1 || sigmas_in.numel() < 2) {
    throw core::InvalidInput("denoise: the sigma schedule must hold at least 2 values (one step)");
  }
  const torch::NoGradGuard no_grad;
  const auto device = model.device();
  const auto dtype = model.dtype();
  const auto video = to_model(video_in, device, dtype);
  const auto audio = to_model(audio_in, device, dtype);
  const PromptContexts contexts{to_model(contexts_in.video_positive, device, dtype),
                                to_model(contexts_in.video_negative, device, dtype),
                                to_model(contexts_in.audio_positive, device, dtype),
                                to_model(contexts_in.audio_negative, device, dtype)};
  const auto sigmas = sigmas_in.to(torch::kFloat32).to(torch::kCPU);
  const MultiModalGuider video_guider(options.video);
  const MultiModalGuider audio_guider(options.audio);
  const int64_t batch = video.latent.size(0);

  auto video_x = video.latent;
  auto audio_x = audio.latent;
  const int64_t steps = sigmas.numel() - 1;
  for (int64_t step = 0; step < steps; ++step) {
    if (options.progress) options.progress->throw_if_cancelled();
    const auto sigma = sigmas[step].to(device);
    DenoiseStepTrace trace;
    const BatchedDenoiser call = [&](const GuidancePlan& plan, const torch::Tensor& video_context,
                                     const torch::Tensor& audio_context) {
      const auto v = batched_modality(plan, video, video_x, sigma, video_context);
      const auto a = batched_modality(plan, audio, audio_x, sigma, audio_context);
      const auto out = model.forward(v, a, to_perturbations(plan.sample_perturbations(batch)));
      // The x0 model (transformer.md §3): per-token latent - velocity * timestep in float32.
      auto video_x0 = models::velocity_to_denoised(v.latent, out.video, v.timesteps);
      auto audio_x0 = models::velocity_to_denoised(a.latent, out.audio, a.timesteps);
      if (options.on_step) {
        trace.video = plan.split(video_x0);
        trace.audio = plan.split(audio_x0);
      }
      return std::make_pair(std::move(video_x0), std::move(audio_x0));
    };
    const auto [video_guided, audio_guided] = guided_denoise(video_guider, audio_guider, contexts, call);
    if (options.on_step) {
      trace.step = step;
      trace.video_latent_in = video_x;
      trace.audio_latent_in = audio_x;
      trace.video_guided = video_guided;
      trace.audio_guided = audio_guided;
      options.on_step(trace);
    }
    // Conditioning tokens are forced back to clean (x = clean there, so their velocity is 0 and they
    // stay exactly clean); then the Euler step on the x0 prediction (trainer.md §5.6).
    const auto video_x0 = post_process_latent(video_guided, video.denoise_mask, video.clean_latent);
    const auto audio_x0 = post_process_latent(audio_guided, audio.denoise_mask, audio.clean_latent);
    video_x = euler_step(video_x, video_x0, sigmas, step);
    audio_x = euler_step(audio_x, audio_x0, sigmas, step);
    if (options.progress) options.progress->update_count(step + 1, steps, "step");
  }
  return {video_x, audio_x};
}

}  // namespace avtrain::sample
