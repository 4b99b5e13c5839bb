// Behaviour of the transformer's parts that need no golden data: config checks, patchify, the attention
// kernel's chunking and masking, and gradient checkpointing.

#include "models/transformer/transformer_model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "models/layers/rms_norm.h"
#include "models/transformer/attention.h"
#include "models/transformer/gradient_checkpoint.h"
#include "models/transformer/modulation.h"
#include "models/transformer/patchify.h"
#include "models/transformer/positions.h"
#include "models/transformer/rope.h"
#include "models/layers/scaled_dot_product.h"

namespace avtrain::models {
namespace {

// The golden tiny config (README "Tiny config"): every LTX-2.3 flag, tiny sizes.
nlohmann::json tiny_config() {
  return nlohmann::json::parse(R"({
    "activation_fn": "gelu-approximate", "attention_bias": true, "attention_head_dim": 16,
    "caption_channels": 24, "cross_attention_dim": 32, "double_self_attention": false, "dropout": 0.0,
    "in_channels": 8, "norm_elementwise_affine": false, "norm_eps": 1e-06, "num_attention_heads": 2,
    "num_embeds_ada_norm": 1000, "num_layers": 2, "num_vector_embeds": null, "only_cross_attention": false,
    "cross_attention_norm": true, "out_channels": 8, "upcast_attention": false, "use_linear_projection": false,
    "qk_norm": "rms_norm", "standardization_norm": "rms_norm", "positional_embedding_type": "rope",
    "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
    "timestep_scale_multiplier": 1000, "av_ca_timestep_scale_multiplier": 1000.0, "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8, "use_audio_video_cross_attention": true, "share_ff": false,
    "audio_out_channels": 32, "audio_cross_attention_dim": 16, "audio_positional_embedding_max_pos": [20],
    "av_cross_ada_norm": true, "use_middle_indices_grid": true, "apply_gated_attention": true,
    "caption_proj_before_connector": true, "cross_attention_adaln": true, "rope_type": "split",
    "frequencies_precision": "float64", "audio_in_channels": 32})");
}

struct RefusalCase {
  std::string key;
  nlohmann::json value;
  std::string message_contains;
};

class TransformerConfigRefusal : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(TransformerConfigRefusal, NamesTheKeyAndValue) {
  auto config = tiny_config();
  config[GetParam().key] = GetParam().value;
  try {
    TransformerConfig::from_checkpoint(config, "tiny.safetensors");
    FAIL() << "accepted " << GetParam().key << " = " << GetParam().value.dump();
  } catch (const core::InvalidInput& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("tiny.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("config.transformer." + GetParam().key + " = " + GetParam().value.dump()), std::string::npos)
        << message;
    EXPECT_NE(message.find(GetParam().message_contains), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Checks, TransformerConfigRefusal,
    ::testing::Values(RefusalCase{"qk_norm", "layer_norm", "\"rms_norm\""},
                      RefusalCase{"rope_type", "interleaved", "split RoPE"},
                      RefusalCase{"activation_fn", "gelu", "gelu-approximate"},
                      RefusalCase{"dropout", 0.1, "0.0"},
                      RefusalCase{"use_middle_indices_grid", false, "true"},
                      RefusalCase{"audio_num_attention_heads", 4, "must equal num_attention_heads"},
                      RefusalCase{"caption_proj_before_connector", false, "caption projection"},
                      RefusalCase{"cross_attention_dim", 64, "must equal"},
                      RefusalCase{"positional_embedding_max_pos", nlohmann::json::array({20, 2048}), "3"},
                      RefusalCase{"frequencies_precision", "float16", "float64"},
                      RefusalCase{"num_layers", 0, "positive"}),
    [](const auto& info) { return info.param.key; });

TEST(TransformerConfig, ReadsTheTinyCheckpointConfig) {
  const auto c = TransformerConfig::from_checkpoint(tiny_config());
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.video_dim(), 32);
  EXPECT_EQ(c.audio_dim(), 16);
  EXPECT_EQ(c.table_rows(), 9);
  EXPECT_TRUE(c.gated_attention && c.cross_attention_adaln && c.prompt_adaln && c.double_precision_rope);
  EXPECT_EQ(c.av_gate_timestep_scale, 1000.0);
  EXPECT_EQ(c.audio_in_channels, 32);
}

TEST(TransformerConfig, RefusesMetadataWithoutConfig) {
  EXPECT_THROW(TransformerConfig::from_metadata({}, "x.safetensors"), core::InvalidInput);
}

TEST(Patchify, VideoTokensAreFrameMajorAndRoundTrip) {
  const auto latent = torch::arange(2 * 3 * 2 * 3 * 4, torch::kFloat32).view({2, 3, 2, 3, 4});
  const auto tokens = patchify_video(latent);
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{2, 24, 3}));
  // token n = (f*H + h)*W + w holds the channels at (f, h, w)
  EXPECT_TRUE(torch::equal(tokens[1][(1 * 3 + 2) * 4 + 1], latent.select(0, 1).select(1, 1).select(1, 2).select(1, 1)));
  EXPECT_TRUE(torch::equal(unpatchify_video(tokens, 2, 3, 4), latent));
}

TEST(Patchify, AudioFeaturesAreChannelMajorAndRoundTrip) {
  const auto latent = torch::arange(1 * 2 * 5 * 4, torch::kFloat32).view({1, 2, 5, 4});
  const auto tokens = patchify_audio(latent);
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{1, 5, 8}));
  EXPECT_EQ(tokens[0][3][1 * 4 + 2].item<float>(), latent[0][1][3][2].item<float>());
  EXPECT_TRUE(torch::equal(unpatchify_audio(tokens, 2, 4), latent));
}

namespace {

// [B, H, T, d] <-> the token-major rows [B, T, H * d] that apply_rope rotates.
torch::Tensor token_major(const torch::Tensor& per_head) { return per_head.transpose(1, 2).flatten(-2); }
torch::Tensor per_head(const torch::Tensor& rows, int64_t heads) {
  return rows.unflatten(-1, {heads, -1}).transpose(1, 2);
}

}  // namespace

// ltx-core's apply_split_rotary_emb rounds x * cos first, then adds the other half's sine term with an
// in-place addcmul_ per half. In bf16 that order decides the last bit; the halves formula
// (x1 c - x2 s, two products rounded before the difference) differs from it on some elements.
TEST(Rope, RotatesInBfloat16AsTheReferenceRoundsIt) {
  torch::manual_seed(5);
  const int64_t heads = 2, tokens = 64, head_dim = 16;
  const auto x = torch::randn({1, heads, tokens, head_dim}).to(torch::kBFloat16);
  const auto angles = torch::rand({1, heads, tokens, head_dim / 2}) * 100;
  const auto cos = angles.cos().to(torch::kBFloat16), sin = angles.sin().to(torch::kBFloat16);
  const auto rope = rope_from_tables(cos, sin);
  EXPECT_TRUE(torch::equal(rope.cos(), cos) && torch::equal(rope.sin(), sin));

  const auto halves = x.unflatten(-1, {2, -1});
  auto reference = halves * cos.unsqueeze(-2);
  reference.select(-2, 0).addcmul_(-sin, halves.select(-2, 1));
  reference.select(-2, 1).addcmul_(sin, halves.select(-2, 0));
  EXPECT_TRUE(torch::equal(per_head(apply_rope(token_major(x), rope), heads), reference.flatten(-2)));

  const auto x1 = halves.select(-2, 0), x2 = halves.select(-2, 1);
  const auto halves_formula = torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
  EXPECT_FALSE(torch::equal(halves_formula, reference.flatten(-2)))
      << "these inputs no longer tell the two roundings apart";
  // float32: both are the exact rotation to rounding.
  const auto x32 = x.to(torch::kFloat32);
  const auto cos32 = cos.to(torch::kFloat32), sin32 = sin.to(torch::kFloat32);
  const auto h32 = x32.unflatten(-1, {2, -1});
  const auto exact = torch::cat({h32.select(-2, 0) * cos32 - h32.select(-2, 1) * sin32,
                                 h32.select(-2, 1) * cos32 + h32.select(-2, 0) * sin32},
                                -1);
  const auto rotated32 = apply_rope(token_major(x32), rope_from_tables(cos32, sin32));
  EXPECT_TRUE(torch::allclose(per_head(rotated32, heads), exact, 1e-6, 1e-6));
}

// The rotation's own backward (the inverse rotation) gives the gradient autograd takes through the formula.
TEST(Rope, TheBackwardIsTheFormulasGradient) {
  torch::manual_seed(6);
  const int64_t heads = 3, tokens = 10, head_dim = 8;
  const auto angles = torch::rand({1, heads, tokens, head_dim / 2}) * 100;
  const auto rope = rope_from_tables(angles.cos(), angles.sin());
  const auto x = torch::randn({2, tokens, heads * head_dim}, torch::requires_grad());
  const auto weight = torch::randn({2, tokens, heads * head_dim});
  (apply_rope(x, rope) * weight).sum().backward();

  const auto formula_x = x.detach().clone().requires_grad_();
  const auto h = per_head(formula_x, heads).unflatten(-1, {2, -1});
  const auto c = angles.cos(), s = angles.sin();
  const auto x1 = h.select(-2, 0), x2 = h.select(-2, 1);
  const auto rotated = torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
  (token_major(rotated) * weight).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), formula_x.grad(), 1e-5, 1e-5))
      << (x.grad() - formula_x.grad()).abs().max().item<float>();

  // A gradient that arrives expanded (a plain sum's) is rotated back as well.
  const auto y = x.detach().clone().requires_grad_();
  apply_rope(y, rope).sum().backward();
  const auto z = x.detach().clone().requires_grad_();
  (apply_rope(z, rope) * torch::ones_like(weight)).sum().backward();
  EXPECT_TRUE(torch::allclose(y.grad(), z.grad()));

  try {
    apply_rope(torch::randn({1, tokens, heads * head_dim + 2}), rope);
    ADD_FAILURE() << "rows of the wrong width were rotated";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("RoPE of width 24 applied to rows of 26"), std::string::npos) << e.what();
  }
}

TEST(ScaledDotProduct, ChunkedPlainPathEqualsOneChunkAndMasksAdditively) {
  torch::manual_seed(0);
  const auto q = torch::randn({2, 3, 37, 8}), k = torch::randn({2, 3, 11, 8}), v = torch::randn({2, 3, 11, 8});
  const auto mask = torch::randn({2, 1, 37, 11});
  const auto whole = scaled_dot_product_plain(q, k, v, mask, int64_t{1} << 30);
  const auto chunked = scaled_dot_product_plain(q, k, v, mask, 2 * 3 * 11 * 4 * 5);  // 5 query rows per chunk
  // Same math per query row; only the GEMM blocking may differ in the last bit.
  EXPECT_LE((whole - chunked).abs().max().item<float>(), 1e-6f);
  const auto reference = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0) + mask, -1), v);
  EXPECT_TRUE(torch::allclose(scaled_dot_product(q, k, v, mask), reference, 1e-5, 1e-6));
}

TEST(ScaledDotProduct, FullyMaskedRowsStayFinite) {
  const auto q = torch::randn({1, 2, 4, 8}), k = torch::randn({1, 2, 6, 8}), v = torch::randn({1, 2, 6, 8});
  auto mask = torch::zeros({1, 1, 4, 6});
  mask.select(2, 1).fill_(-std::numeric_limits<float>::max());  // query 1 sees nothing
  const auto out = scaled_dot_product(q, k, v, mask);
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  // a fully masked row averages V uniformly
  EXPECT_TRUE(torch::allclose(out.select(2, 1), v.mean(2), 1e-5, 1e-6));
}

TEST(ScaledDotProduct, BackendChoiceNamesAnUnknownOrUnavailableBackend) {
  const auto message = [](const std::string& name) {
    try {
      select_attention_backend(name);
    } catch (const core::InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message("flash-3").find("'flash-3' is unknown"), std::string::npos) << message("flash-3");
  EXPECT_EQ(message("auto"), "");
#if TORCH_VERSION_MAJOR < 2
  EXPECT_NE(message("flash").find("needs LibTorch >= 2"), std::string::npos) << message("flash");
#else
  EXPECT_EQ(message("math"), "");  // every LibTorch 2 has it, on every device
  const auto q = torch::randn({1, 2, 5, 8}), k = torch::randn({1, 2, 7, 8}), v = torch::randn({1, 2, 7, 8});
  EXPECT_TRUE(torch::allclose(scaled_dot_product(q, k, v), scaled_dot_product_plain(q, k, v, {}, 1 << 20), 1e-5, 1e-6));
  EXPECT_EQ(message("auto"), "");
#endif
}

TEST(TokenModulation, FindsTheRunsOfEachSampleAndGivesUpOnTooMany) {
  const auto index = torch::tensor({0, 0, 1, 1, 1, 2, 2, 2, 0, 0}, torch::kLong).view({2, 5});
  const auto m = TokenModulation::from_index(torch::zeros({3, 4}), index);
  ASSERT_EQ(m.runs.size(), 4u);
  const std::vector<std::array<int64_t, 4>> expected = {{0, 0, 2, 0}, {0, 2, 3, 1}, {1, 0, 3, 2}, {1, 3, 2, 0}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& r = m.runs[i];
    EXPECT_EQ((std::array<int64_t, 4>{r.sample, r.start, r.length, r.row}), expected[i]) << "run " << i;
  }
  const auto alternating = torch::arange(2 * kMaxTokenRunsPerSample + 2).remainder(2).view({1, -1});
  EXPECT_TRUE(TokenModulation::from_index(torch::zeros({2, 4}), alternating).runs.empty());
  const auto at_limit = torch::arange(kMaxTokenRunsPerSample).view({1, -1});
  EXPECT_EQ(TokenModulation::from_index(torch::zeros({16, 4}), at_limit).runs.size(),
            static_cast<size_t>(kMaxTokenRunsPerSample));
}

// modulate and add_gated by runs give the per-token formula's bits, forward and backward, in bf16.
TEST(TokenModulation, RunsGiveTheGatheredResultBitForBit) {
  torch::manual_seed(8);
  const int64_t dim = 16, k = 9;
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  const auto table = torch::randn({k, dim}, bf16);
  const auto rows = torch::randn({3, k * dim}, bf16);
  const auto index = torch::tensor({2, 2, 2, 0, 0, 0, 1, 1, 1, 1, 0, 0}, torch::kLong).view({2, 6});
  const auto by_runs = TokenModulation::from_index(rows, index);
  ASSERT_EQ(by_runs.runs.size(), 4u);
  const auto gathered = by_runs.with_rows(rows);
  TokenModulation per_token_only = gathered;
  per_token_only.runs.clear();
  const auto x0 = torch::randn({2, 6, dim}, bf16), update0 = torch::randn({2, 6, dim}, bf16);
  const auto grad = torch::randn({2, 6, dim}, bf16);

  // The reference's layout: a [B, T, k, D] table, then rms(x) * (1 + scale) + shift and x + y * gate.
  const auto full = table + per_token_only.per_token().unflatten(-1, {k, dim});
  const auto run = [&](const TokenModulation& m, bool formula) {
    const auto x = x0.clone().requires_grad_(), update = update0.clone().requires_grad_();
    torch::Tensor out;
    if (formula) {
      const auto modulated = torch::addcmul(full.select(2, 6), rms_norm(x, 1e-6), 1 + full.select(2, 7));
      out = torch::addcmul(x, update * modulated, full.select(2, 8));
    } else {
      const auto m_rows = table_rows(table, m);
      out = add_gated(x, update * modulate(x, m_rows, 7, 6, 1e-6), m_rows, 8);
    }
    out.backward(grad);
    return std::array<torch::Tensor, 3>{out.detach(), x.grad(), update.grad()};
  };
  const auto reference = run(per_token_only, true);
  for (const auto* m : std::initializer_list<const TokenModulation*>{&by_runs, &per_token_only}) {
    const auto got = run(*m, false);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(torch::equal(got[i], reference[i])) << (m == &by_runs ? "runs" : "gathered") << ", tensor " << i;
    }
  }
}

// Leaves with q/k/v's values that collect gradients.
std::array<torch::Tensor, 3> leaves(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  return {q.detach().clone().requires_grad_(), k.detach().clone().requires_grad_(),
          v.detach().clone().requires_grad_()};
}

TEST(ScaledDotProduct, KeptAttentionReplaysTheKernelsOutputWithItsGradients) {
  torch::manual_seed(5);
  const auto q = torch::randn({1, 2, 6, 8}), k = torch::randn({1, 2, 9, 8}), v = torch::randn({1, 2, 9, 8});
  const auto grad = torch::randn({1, 2, 6, 8});
  const auto short_k = torch::randn({1, 2, 4, 8}), short_v = torch::randn({1, 2, 4, 8});
  const auto mask = torch::randn({1, 1, 6, 9});
  // Two query rows per chunk of the plain path (LibTorch 1.13), whose backward then takes one at a time.
  constexpr int64_t kTwoRows = 2 * 2 * 9 * 4;
  // What the recompute would do: run the attention again and back-propagate through it.
  auto [q0, k0, v0] = leaves(q, k, v);
  const auto expected = scaled_dot_product(q0, k0, v0, {}, kTwoRows);
  expected.backward(grad);

  AttentionTape tape(/*min_keys=*/9);
  const auto counts = kept_attention_counts();
  torch::Tensor recorded;
  {
    const torch::NoGradGuard no_grad;
    const AttentionTapeScope scope(tape, AttentionTapeScope::Mode::record);
    recorded = scaled_dot_product(q, k, v, {}, kTwoRows);
    scaled_dot_product(q, short_k, short_v);  // too few keys: not kept
    scaled_dot_product(q, k, v, mask);        // masked: not kept
  }
  EXPECT_TRUE(torch::equal(recorded, expected.detach()));
  EXPECT_EQ(kept_attention_counts().recorded, counts.recorded + 1);
  // The output and one float32 log-sum-exp per query row and head.
  EXPECT_EQ(tape.kept_bytes(), static_cast<int64_t>(recorded.nbytes()) + 2 * 6 * 4);

  auto [q1, k1, v1] = leaves(q, k, v);
  torch::Tensor replayed, masked;
  {
    const AttentionTapeScope scope(tape, AttentionTapeScope::Mode::replay);
    replayed = scaled_dot_product(q1, k1, v1, {}, kTwoRows);
    scaled_dot_product(q1, short_k, short_v);
    masked = scaled_dot_product(q1, k1, v1, mask);  // runs as usual
    EXPECT_THROW(scaled_dot_product(q1, k1, v1), c10::Error);  // one call more than the first run
  }
  EXPECT_EQ(kept_attention_counts().replayed, counts.replayed + 1);
  EXPECT_TRUE(torch::equal(replayed.detach(), expected.detach()));
  EXPECT_TRUE(torch::allclose(masked, scaled_dot_product(q, k, v, mask)));
  replayed.backward(grad);
  for (const auto& [got, want] : {std::pair{q1, q0}, {k1, k0}, {v1, v0}}) {
    ASSERT_TRUE(got.grad().defined());
    EXPECT_GT(want.grad().abs().max().item<float>(), 0.0f);
    EXPECT_TRUE(torch::allclose(got.grad(), want.grad(), 1e-5, 1e-6)) << (got.grad() - want.grad()).abs().max();
  }
  tape.clear();
  EXPECT_EQ(tape.kept_bytes(), 0);
}

// A tiny random model with LoRA adapters on the six attention modules' q/k/v/out.
TransformerModel tiny_model_with_adapters(int64_t rank) {
  auto config = TransformerConfig::from_checkpoint(tiny_config());
  TransformerModel model(WeightSource::random(7), config);
  torch::manual_seed(3);
  for (auto& [name, linear] : model->named_linears()) {
    const bool target = name.find("attn") != std::string::npos &&
                        (name.ends_with(".to_q") || name.ends_with(".to_k") || name.ends_with(".to_v") ||
                         name.ends_with(".to_out.0"));
    if (!target) continue;
    linear->lora_A = (torch::rand({rank, linear->in_features}) * 2 - 1).div_(std::sqrt(linear->in_features)).requires_grad_();
    linear->lora_B = (torch::randn({linear->out_features, rank}) * 0.1).requires_grad_();
  }
  return model;
}

std::pair<Modality, Modality> tiny_inputs() {
  torch::manual_seed(11);
  Modality video, audio;
  const auto target = video_positions(2, 2, 2, 24.0), reference = reference_video_positions(2, 1, 1, 24.0, 2, 1);
  video.positions = torch::cat({target, reference}, 2);
  const int64_t tv = video.positions.size(2);
  video.latent = torch::randn({1, tv, 8});
  video.sigma = torch::full({1}, 0.6f);
  video.timesteps = torch::cat({torch::full({1, 8}, 0.6f), torch::zeros({1, tv - 8})}, 1);
  video.context = torch::randn({1, 5, 32});
  audio.positions = torch::cat({audio_positions(6), audio_positions(6)}, 2);
  audio.latent = torch::randn({1, 12, 32});
  audio.sigma = torch::full({1}, 0.6f);
  audio.timesteps = torch::cat({torch::full({1, 6}, 0.6f), torch::zeros({1, 6})}, 1);
  audio.context = torch::randn({1, 5, 16});
  return {video, audio};
}

std::vector<torch::Tensor> adapter_gradients(TransformerModel& model, bool checkpointing) {
  model->set_gradient_checkpointing(checkpointing);
  const auto [video, audio] = tiny_inputs();
  const auto out = model->forward(video, audio);
  const auto loss = out.video.narrow(1, 0, 8).square().mean() + out.audio.narrow(1, 0, 6).square().mean();
  loss.backward();
  std::vector<torch::Tensor> grads;
  for (auto& [name, linear] : model->named_linears()) {
    for (auto* t : {&linear->lora_A, &linear->lora_B}) {
      if (!t->defined()) continue;
      EXPECT_TRUE(t->grad().defined()) << name;
      grads.push_back(t->grad().clone());
      t->mutable_grad().reset();
    }
  }
  return grads;
}

TEST(GradientCheckpointing, AdapterGradientsEqualThePlainBackward) {
  auto model = tiny_model_with_adapters(4);
  const auto plain = adapter_gradients(model, false);
  const auto checkpointed = adapter_gradients(model, true);
  ASSERT_EQ(plain.size(), 2u * 48u);  // 6 modules x 4 linears x 2 blocks, A and B each
  ASSERT_EQ(checkpointed.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_GT(plain[i].abs().max().item<float>(), 0.0f) << i;
    EXPECT_TRUE(torch::allclose(checkpointed[i], plain[i], 1e-5, 1e-7)) << "gradient " << i;
  }
}

TEST(FeedForward, TheRecomputesFormGivesTheInputGradientWithoutComputingTheOutput) {
  FeedForward ff(WeightSource::random(5), 8, 32, /*bias=*/true);
  torch::manual_seed(2);
  const auto input = torch::randn({2, 3, 8});
  const auto grad = torch::randn({2, 3, 8});
  const auto input_gradient = [&](bool values_needed) {
    const auto x = input.clone().requires_grad_();
    const auto y = values_needed ? ff(x) : ff->forward_for_gradient(x);
    y.backward(grad);
    return std::pair{y.detach(), x.grad()};
  };
  const auto [values, want] = input_gradient(true);
  const auto [zeros, got] = input_gradient(false);
  EXPECT_TRUE(torch::equal(got, want)) << (got - want).abs().max();
  EXPECT_GT(values.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(zeros.abs().max().item<float>(), 0.0f);  // the output GEMM did not run
  ff->output->lora_A = torch::randn({2, 32}).requires_grad_();
  ff->output->lora_B = torch::randn({8, 2}).requires_grad_();
  EXPECT_TRUE(torch::equal(ff->forward_for_gradient(input), ff(input)));  // a trained output: computed
}

TEST(GradientCheckpointing, KeptAttentionGivesThePlainGradientsWithoutRunningAttentionAgain) {
  auto model = tiny_model_with_adapters(4);
  const auto plain = adapter_gradients(model, false);
  // Every attention of the tiny inputs is unmasked: with min_keys 1, all six of each block are kept.
  for (const int64_t blocks : {int64_t{-1}, int64_t{1}}) {
    model->set_kept_attention(blocks, /*min_keys=*/1);
    const auto before = kept_attention_counts();
    const auto kept = adapter_gradients(model, true);
    const auto after = kept_attention_counts();
    const int64_t expected_calls = 6 * (blocks < 0 ? 2 : blocks);
    EXPECT_EQ(after.recorded - before.recorded, expected_calls) << "blocks " << blocks;
    EXPECT_EQ(after.replayed - before.replayed, expected_calls) << "blocks " << blocks;
    ASSERT_EQ(kept.size(), plain.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_TRUE(torch::allclose(kept[i], plain[i], 1e-5, 1e-7))
          << "gradient " << i << ", blocks " << blocks << ": " << (kept[i] - plain[i]).abs().max();
    }
  }
  model->set_kept_attention(0);
  const auto before = kept_attention_counts();
  adapter_gradients(model, true);
  EXPECT_EQ(kept_attention_counts().recorded, before.recorded);
}

TEST(GradientCheckpointing, ASecondBackwardThroughTheSameGraphIsRefused) {
  const auto x = torch::randn({3, 4}).requires_grad_();
  const auto sine = [](const std::vector<torch::Tensor>& in, CheckpointPass) { return std::vector{in[0].sin()}; };
  const auto out = checkpoint(sine, {x}, {});
  out[0].sum().backward({}, /*retain_graph=*/true);
  EXPECT_TRUE(torch::allclose(x.grad(), x.detach().cos()));
  EXPECT_THROW(out[0].sum().backward(), c10::Error);
}

TEST(GradientCheckpointing, ForwardOutputIsUnchanged) {
  auto model = tiny_model_with_adapters(2);
  const auto [video, audio] = tiny_inputs();
  const auto plain = model->forward(video, audio);
  model->set_gradient_checkpointing(true);
  const auto checkpointed = model->forward(video, audio);
  EXPECT_TRUE(torch::equal(plain.video, checkpointed.video));
  EXPECT_TRUE(torch::equal(plain.audio, checkpointed.audio));
}

TEST(TransformerModel, VideoOnlyAndDisabledAudioRun) {
  auto model = tiny_model_with_adapters(2);
  const torch::NoGradGuard no_grad;
  auto [video, audio] = tiny_inputs();
  const auto video_only = model->forward(video, std::nullopt);
  EXPECT_TRUE(video_only.video.defined());
  EXPECT_FALSE(video_only.audio.defined());
  EXPECT_TRUE(torch::isfinite(video_only.video).all().item<bool>());
  audio.enabled = false;  // frozen audio still feeds video through a2v
  const auto frozen = model->forward(video, audio);
  EXPECT_FALSE(torch::allclose(frozen.video, video_only.video));
}

TEST(TransformerModel, ReplaceWeightsSwapsParametersAndMembers) {
  auto model = tiny_model_with_adapters(2);
  model->replace_weights([](const std::string&, const torch::Tensor& t) { return torch::zeros_like(t); });
  for (const auto& p : model->parameters()) EXPECT_EQ(p.abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(model->blocks[0]->attn1->to_q->weight.abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(model->blocks[1]->scale_shift_table.abs().sum().item<float>(), 0.0f);
}

}  // namespace
}  // namespace avtrain::models
