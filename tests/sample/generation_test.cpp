// The sampling path on the built-in tiny model (random weights): state construction with appended
// references, reference tokens held clean, the full loop + decode, and the pieces the loop is made of.

#include "sample/generation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "models/audio/audio_config.h"
#include "models/tiny.h"
#include "models/transformer/positions.h"
#include "sample/decoding.h"
#include "sample/denoising_loop.h"
#include "sample/sigma_schedule.h"
#include "testing/temp_dir.h"

namespace avtrain::sample {
namespace {

bool finite(const torch::Tensor& t) { return torch::isfinite(t).all().item<bool>(); }

// One tiny checkpoint (seed 0) loaded in float32, shared by the tests of this file.
class TinySampling : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>("avtrain-sample");
    const auto path = dir_->path() / models::kTinyCheckpointName;
    models::write_tiny_ltx_checkpoint(path, 0);
    const auto set = std::make_shared<const core::SafetensorsSet>(core::SafetensorsSet::open_file(path));
    models_ = std::make_unique<SamplingModels>(load_sampling_models(set, torch::TensorOptions().dtype(torch::kFloat32)));
  }
  static void TearDownTestSuite() {
    models_.reset();
    dir_.reset();
  }

  // Random prompt contexts of the tiny widths.
  static models::text::PromptContext context(int64_t seed) {
    torch::manual_seed(static_cast<uint64_t>(seed));
    const auto& config = models_->transformer->config;
    return {torch::randn({6, config.cross_attention_dim}), torch::randn({6, config.audio_cross_attention_dim})};
  }

  static std::unique_ptr<testing::TempDir> dir_;
  static std::unique_ptr<SamplingModels> models_;
};
std::unique_ptr<testing::TempDir> TinySampling::dir_;
std::unique_ptr<SamplingModels> TinySampling::models_;

TEST_F(TinySampling, ReferenceTokensStayExactlyCleanAcrossSteps) {
  const auto& config = models_->transformer->config;
  const auto& audio_vae = models_->audio_decoder->config;
  torch::manual_seed(7);
  // Target 2 x 2 x 2 latent; reference at d = 2 (1 x 1 spatially), S = 1; audio reference of 5 frames.
  auto video = make_video_state(torch::randn({config.in_channels, 2, 1, 1}), config.in_channels, 2, 2, 2, 24.0, 2, 1);
  auto audio = make_audio_state(torch::randn({audio_vae.z_channels, 5, audio_vae.latent_mel_bins()}), 9,
                                audio_vae.z_channels, audio_vae.latent_mel_bins());
  add_initial_noise(video, audio, 42);
  const auto reference = [](const LatentState& s, const torch::Tensor& latent) {
    return latent.slice(1, s.target_tokens);
  };
  // The noise reaches every target token and no reference token.
  EXPECT_TRUE(torch::equal(reference(video, video.latent), reference(video, video.clean_latent)));
  EXPECT_TRUE(torch::equal(reference(audio, audio.latent), reference(audio, audio.clean_latent)));
  EXPECT_GT(video.latent.slice(1, 0, video.target_tokens).abs().min().item<float>(), 0.0f);

  const auto positive = context(1), negative = context(2);
  const PromptContexts contexts{positive.video.unsqueeze(0), negative.video.unsqueeze(0),
                                positive.audio.unsqueeze(0), negative.audio.unsqueeze(0)};
  const SamplingSettings settings;
  DenoiseOptions options;
  options.video = settings.video_guider(config.num_layers);
  options.audio = settings.audio_guider(config.num_layers);
  int steps = 0;
  options.on_step = [&](const DenoiseStepTrace& trace) {
    ++steps;
    EXPECT_TRUE(torch::equal(reference(video, trace.video_latent_in), reference(video, video.clean_latent)))
        << "video reference changed before step " << trace.step;
    EXPECT_TRUE(torch::equal(reference(audio, trace.audio_latent_in), reference(audio, audio.clean_latent)))
        << "audio reference changed before step " << trace.step;
    // All four passes ran, and they differ (each changes the prediction).
    EXPECT_FALSE(torch::equal(trace.video.cond, trace.video.uncond_text));
    EXPECT_FALSE(torch::equal(trace.video.cond, trace.video.perturbed));
    EXPECT_FALSE(torch::equal(trace.audio.cond, trace.audio.isolated_modality));
  };
  const auto [video_out, audio_out] = denoise(*models_->transformer, video, audio, contexts, ltx2_sigmas(3), options);
  EXPECT_EQ(steps, 3);
  EXPECT_TRUE(torch::equal(reference(video, video_out), reference(video, video.clean_latent)));
  EXPECT_TRUE(torch::equal(reference(audio, audio_out), reference(audio, audio.clean_latent)));
  EXPECT_TRUE(finite(video_out) && finite(audio_out));
  EXPECT_FALSE(torch::equal(video_out.slice(1, 0, video.target_tokens), video.latent.slice(1, 0, video.target_tokens)));
}

TEST_F(TinySampling, FullLoopAndDecodeGiveTheRequestedFramesAndAudioLength) {
  SampleRequest request;
  request.frames = 9;
  request.width = 96;
  request.height = 64;
  request.fps = 24;
  request.spatial_factor = 2;
  request.settings.steps = 2;
  request.prompt = context(3);
  request.negative_prompt = context(4);
  // The reference pixels would be 48 x 32 at d = 2: one latent cell high, 1.5 wide -> use 1 x 1 (64 x 32 px).
  torch::manual_seed(11);
  const auto& config = models_->transformer->config;
  const auto& audio_vae = models_->audio_decoder->config;
  request.reference_video_latent = torch::randn({config.in_channels, 2, 1, 1});
  request.reference_audio_latent = torch::randn({audio_vae.z_channels, 9, audio_vae.latent_mel_bins()});

  const auto sample = generate_validation_sample(*models_, request);
  ASSERT_EQ(sample.video.sizes(), torch::IntArrayRef({3, 9, 64, 96}));
  EXPECT_EQ(sample.video.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(finite(sample.video));
  EXPECT_LE(sample.video.abs().max().item<float>(), 1.0f);

  // round(25 * 9 / 24) = 9 latent frames -> 4 * 9 - 3 = 33 mel frames -> the vocoder's samples.
  const int64_t tokens = models::audio_latent_frames(9, 24.0);
  ASSERT_EQ(tokens, 9);
  const int64_t mel_frames = models_->audio_decoder->mel_frames(tokens);
  ASSERT_EQ(sample.audio.samples.dim(), 2);
  EXPECT_EQ(sample.audio.samples.size(0), 2);
  EXPECT_EQ(sample.audio.samples.size(1), models_->vocoder->output_samples(mel_frames));
  EXPECT_TRUE(finite(sample.audio.samples));
  // The reported rate makes the waveform last as long as its mel frames (10 ms each).
  EXPECT_NEAR(sample.audio.duration(), mel_frames * 0.01, 1e-9);
  EXPECT_NEAR(sample.audio.duration(), 9.0 / 24.0, 0.05);

  const auto rgb = to_rgb8(sample.video);
  EXPECT_EQ(rgb.sizes(), torch::IntArrayRef({9, 64, 96, 3}));
  EXPECT_EQ(rgb.scalar_type(), torch::kUInt8);

  // Same seed, same sample; another seed, another one.
  const auto again = generate_validation_sample(*models_, request);
  EXPECT_TRUE(torch::equal(again.video, sample.video));
  request.settings.seed = 43;
  EXPECT_FALSE(torch::equal(generate_validation_sample(*models_, request).video, sample.video));
}

TEST_F(TinySampling, RefusesFrameCountsAndSizesOffTheVaeGrid) {
  SampleRequest request;
  request.frames = 10;
  request.width = 64;
  request.height = 64;
  request.prompt = context(5);
  EXPECT_THROW(generate_validation_sample(*models_, request), core::InvalidInput);
  request.frames = 9;
  request.width = 80;
  EXPECT_THROW(generate_validation_sample(*models_, request), core::InvalidInput);
}

TEST(SamplingState, ReferencePositionsFollowTheSpatialAndTemporalFactors) {
  // d = 2, S = 2: the reference latent grid's positions are those of reference_video_positions, and
  // its height/width bounds are twice those of a target grid of the same size.
  const auto reference = torch::zeros({4, 3, 2, 3});
  const auto state = make_video_state(reference, 4, 5, 4, 6, 24.0, 2, 2);
  ASSERT_EQ(state.target_tokens, 5 * 4 * 6);
  ASSERT_EQ(state.tokens(), 5 * 4 * 6 + 3 * 2 * 3);
  const auto reference_positions = state.positions.slice(2, state.target_tokens);
  EXPECT_TRUE(torch::equal(reference_positions, models::reference_video_positions(3, 2, 3, 24.0, 2, 2)));
  const auto plain = models::video_positions(3, 2, 3, 24.0);
  EXPECT_TRUE(torch::equal(reference_positions.slice(1, 1, 3), plain.slice(1, 1, 3) * 2));
  EXPECT_TRUE(torch::equal(state.positions.slice(2, 0, state.target_tokens), models::video_positions(5, 4, 6, 24.0)));
  // Masks: 1 on targets, 0 on the reference.
  EXPECT_EQ(state.denoise_mask.sum().item<float>(), static_cast<float>(state.target_tokens));
  EXPECT_TRUE(torch::equal(state.clean_latent.slice(1, state.target_tokens),
                           torch::zeros({1, 3 * 2 * 3, 4})));

  // Without a reference the state is the target alone.
  const auto bare = make_audio_state({}, 7, 2, 16);
  EXPECT_EQ(bare.tokens(), 7);
  EXPECT_TRUE(torch::equal(bare.positions, models::audio_positions(7)));
}

TEST(SamplingState, PassesBecomeTransformerPerturbations) {
  PassPerturbation stg;
  stg.skip_video_self_attn_blocks = {28};
  stg.skip_audio_self_attn_blocks = {28};
  PassPerturbation isolate;
  isolate.skip_cross_modal_attn = true;
  const auto perturbations = to_perturbations({PassPerturbation{}, stg, isolate});
  ASSERT_EQ(perturbations.samples.size(), 3u);
  EXPECT_TRUE(perturbations.samples[0].empty());
  ASSERT_EQ(perturbations.samples[1].size(), 2u);
  EXPECT_EQ(perturbations.samples[1][0].type, models::PerturbationType::skip_video_self_attention);
  EXPECT_EQ(perturbations.samples[1][1].blocks, std::vector<int64_t>{28});
  ASSERT_EQ(perturbations.samples[2].size(), 2u);
  EXPECT_EQ(perturbations.samples[2][0].type, models::PerturbationType::skip_a2v_cross_attention);
  EXPECT_TRUE(perturbations.samples[2][1].blocks.empty());  // every block
  // An STG pass without blocks perturbs nothing (an empty block list would mean every block).
  PassPerturbation empty_stg;
  EXPECT_TRUE(to_perturbations({PassPerturbation{}, empty_stg}).empty());
}

TEST(SamplingState, WaveformRateKeepsAudioInStepWithTheMel) {
  models::AudioVaeConfig audio;
  audio.sample_rate = 16000;
  audio.hop_length = 160;
  models::VocoderConfig vocoder;
  vocoder.input_sampling_rate = 16000;
  vocoder.output_sampling_rate = 48000;
  vocoder.vocoder.upsample_rates = {5, 2, 2, 2, 2, 2};  // LTX-2.3: x160 = the mel hop
  EXPECT_EQ(waveform_sample_rate(audio, vocoder), 48000);
  vocoder.vocoder.upsample_rates = {5, 2};  // the tiny model: x10
  EXPECT_EQ(waveform_sample_rate(audio, vocoder), 3000);
}

TEST(SamplingState, Rgb8TruncatesLikeTheReference) {
  const auto video = torch::tensor({-1.5f, -1.0f, 0.0f, 0.999f, 1.0f, 2.0f}).view({1, 1, 2, 3}).expand({3, 1, 2, 3});
  const auto rgb = to_rgb8(video);
  ASSERT_EQ(rgb.sizes(), torch::IntArrayRef({1, 2, 3, 3}));
  const auto red = rgb.select(3, 0).flatten();
  const std::vector<int> expected = {0, 0, 127, 254, 255, 255};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(red[static_cast<int64_t>(i)].item<int>(), expected[i]) << i;
}

}  // namespace
}  // namespace avtrain::sample
