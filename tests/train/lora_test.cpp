#include "train/lora.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_io.h"
#include "models/layers/linear.h"
#include "testing/temp_dir.h"

namespace avtrain::train {
namespace {

using models::Linear;
using models::WeightSource;

// A miniature of the transformer's module tree: two blocks with video and audio attention, an FFN
// and a top-level projection, so that PEFT's name matching meets the same paths.
struct Attention : torch::nn::Module {
  Attention(const WeightSource& w, int64_t dim) {
    to_q = register_module("to_q", Linear(w.at("to_q"), dim, dim));
    to_k = register_module("to_k", Linear(w.at("to_k"), dim, dim));
    to_out_0 = Linear(w.at("to_out.0"), dim, dim);
    register_module("to_out", torch::nn::ModuleList(to_out_0));
  }
  Linear to_q{nullptr}, to_k{nullptr}, to_out_0{nullptr};
};
struct Block : torch::nn::Module {
  Block(const WeightSource& w, int64_t dim) {
    attn1 = register_module("attn1", std::make_shared<Attention>(w.at("attn1"), dim));
    audio_attn1 = register_module("audio_attn1", std::make_shared<Attention>(w.at("audio_attn1"), dim));
    ff = register_module("ff", Linear(w.at("ff"), dim, dim));
  }
  std::shared_ptr<Attention> attn1, audio_attn1;
  Linear ff{nullptr};
};
struct Toy : torch::nn::Module {
  explicit Toy(const WeightSource& w, int64_t dim = 6) {
    auto list = torch::nn::ModuleList();
    for (int i = 0; i < 2; ++i)
      list->push_back(std::make_shared<Block>(w.at("transformer_blocks").at(std::to_string(i)), dim));
    blocks = register_module("transformer_blocks", list);
    proj_out = register_module("proj_out", Linear(w.at("proj_out"), dim, 3));
  }
  torch::Tensor forward(torch::Tensor x) {
    for (const auto& module : *blocks) {
      auto& block = *module->as<Block>();
      x = block.attn1->to_out_0(block.attn1->to_q(x) + block.attn1->to_k(x));
      x = x + block.audio_attn1->to_out_0(block.audio_attn1->to_q(x) * block.audio_attn1->to_k(x));
      x = block.ff(x);
    }
    return proj_out(x);
  }
  torch::nn::ModuleList blocks{nullptr};
  Linear proj_out{nullptr};
};

std::vector<std::string> paths(const LoraSet& set) {
  std::vector<std::string> result;
  for (const auto& adapter : set.adapters()) result.push_back(adapter.path);
  return result;
}

TEST(LoraTargets, MatchLikePeftOnWholeNameSegments) {
  EXPECT_TRUE(lora_target_matches("transformer_blocks.0.attn1.to_k", "to_k"));
  EXPECT_TRUE(lora_target_matches("transformer_blocks.0.audio_attn1.to_k", "to_k"));
  EXPECT_TRUE(lora_target_matches("transformer_blocks.0.attn1.to_k", "attn1.to_k"));
  EXPECT_FALSE(lora_target_matches("transformer_blocks.0.audio_attn1.to_k", "attn1.to_k"));
  EXPECT_FALSE(lora_target_matches("transformer_blocks.0.audio_ff.net.0.proj", "ff.net.0.proj"));
  EXPECT_TRUE(lora_target_matches("to_out.0", "to_out.0"));
  EXPECT_FALSE(lora_target_matches("transformer_blocks.0.attn1.to_out.0", "out.0"));
}

TEST(Lora, InjectsIntoEveryTargetedLinearOnlyAndStartsAsTheIdentity) {
  Toy model(WeightSource::random(1));
  const auto x = torch::randn({4, 6});
  const auto before = model.forward(x);
  const auto set = LoraSet::inject(model, {.rank = 2, .alpha = 2, .targets = {"to_q", "to_out.0"}});
  EXPECT_EQ(paths(set),
            (std::vector<std::string>{
                "transformer_blocks.0.attn1.to_q", "transformer_blocks.0.attn1.to_out.0",
                "transformer_blocks.0.audio_attn1.to_q", "transformer_blocks.0.audio_attn1.to_out.0",
                "transformer_blocks.1.attn1.to_q", "transformer_blocks.1.attn1.to_out.0",
                "transformer_blocks.1.audio_attn1.to_q", "transformer_blocks.1.audio_attn1.to_out.0"}));
  EXPECT_TRUE(torch::equal(model.forward(x), before));  // B = 0
  for (const auto& adapter : set.adapters()) {
    EXPECT_EQ(adapter.linear->lora_A.scalar_type(), torch::kFloat32);
    EXPECT_LE(adapter.linear->lora_A.abs().max().item<double>(), 1 / std::sqrt(6.0));
  }
  Toy other(WeightSource::random(1));
  EXPECT_THROW(LoraSet::inject(other, {.rank = 2, .alpha = 2, .targets = {"to_qq"}}), core::InvalidInput);
}

TEST(Lora, GradientsReachOnlyTheAdaptersAndEveryAdapterGetsOne) {
  Toy model(WeightSource::random(2));
  const auto set = LoraSet::inject(model, {.rank = 2, .alpha = 2, .targets = {"to_q", "to_k", "to_out.0"}});
  for (const auto& adapter : set.adapters()) adapter.linear->lora_B.data().normal_(0, 0.1);
  model.forward(torch::randn({5, 6})).square().mean().backward();
  for (const auto& adapter : set.adapters()) {
    ASSERT_TRUE(adapter.linear->lora_A.grad().defined()) << adapter.path;
    EXPECT_GT(adapter.linear->lora_A.grad().abs().sum().item<double>(), 0) << adapter.path;
    EXPECT_GT(adapter.linear->lora_B.grad().abs().sum().item<double>(), 0) << adapter.path;
  }
  for (const auto& parameter : model.parameters()) EXPECT_FALSE(parameter.requires_grad());
}

// The reference trains under bf16 autocast: the adapter's matmuls run in bf16 on its fp32 masters cast
// down, and its product joins the bf16 output (trainer.md §3.2). avtrain adds the product inside the GEMM,
// rounding once where the reference rounds twice: within one bf16 step of the output.
TEST(Lora, AdapterRunsInTheActivationDtypeAsUnderAutocast) {
  Linear linear(WeightSource::random(4, "", torch::kBFloat16).at("proj"), 64, 48);
  linear->lora_A = (torch::randn({8, 64}) * 0.2).requires_grad_();
  linear->lora_B = (torch::randn({48, 8}) * 0.2).requires_grad_();
  linear->lora_scale = 0.5;
  const auto x = torch::randn({2, 5, 64}).to(torch::kBFloat16);
  const auto y = linear(x);
  ASSERT_EQ(y.scalar_type(), torch::kBFloat16);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 48}));
  const auto bf16 = [](const torch::Tensor& t) { return t.detach().to(torch::kBFloat16); };
  const auto autocast = torch::linear(x, bf16(linear->weight), bf16(linear->bias)) +
                        torch::linear(torch::linear(x, bf16(linear->lora_A)), bf16(linear->lora_B)) * 0.5;
  const auto difference =
      (y.detach().to(torch::kFloat32) - autocast.to(torch::kFloat32)).abs().max().item<double>();
  EXPECT_LE(difference, autocast.abs().max().item<double>() / 128);
  y.to(torch::kFloat32).square().sum().backward();
  ASSERT_TRUE(linear->lora_A.grad().defined());
  EXPECT_EQ(linear->lora_A.grad().scalar_type(), torch::kFloat32);
  EXPECT_EQ(linear->lora_B.grad().scalar_type(), torch::kFloat32);

  // The masters are cast to bf16 before the matmul: A = [1 + 2^-9, -1] rounds to [1, -1], so on x = [1, 1]
  // the adapter's hidden value is exactly 0 under autocast, where a float32 adapter would give 2^-9 * B = 1.
  Linear zero(WeightSource::random(6, "", torch::kBFloat16).at("proj"), 2, 1);
  {
    const torch::NoGradGuard no_grad;
    zero->weight.zero_();
    zero->bias.zero_();
  }
  zero->lora_A = torch::tensor({{1.0f + 1.0f / 512, -1.0f}});
  zero->lora_B = torch::tensor({{512.0f}});
  EXPECT_EQ(zero(torch::ones({1, 2}, torch::kBFloat16)).item<float>(), 0.0f);

  // In float32 it is the exact formula, and an input without rows stays an empty output.
  Linear exact(WeightSource::random(5).at("proj"), 64, 48);
  exact->lora_A = torch::randn({8, 64});
  exact->lora_B = torch::randn({48, 8});
  exact->lora_scale = 0.5;
  const auto x32 = torch::randn({3, 64});
  const auto expected = torch::linear(x32, exact->weight, exact->bias) +
                        torch::linear(torch::linear(x32, exact->lora_A), exact->lora_B) * 0.5;
  EXPECT_TRUE(torch::allclose(exact(x32), expected, 1e-5, 1e-5));
  EXPECT_EQ(exact(torch::randn({0, 64})).sizes(), (std::vector<int64_t>{0, 48}));
}

// The adapted linear is one autograd node with its own backward: its gradients are those of the formula's
// plain autograd graph (float32: to rounding; bf16: within a bf16 step), for x, A and B.
TEST(Lora, TheAdaptedLinearsBackwardGivesTheFormulasGradients) {
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    Linear linear(WeightSource::random(4, "", dtype).at("proj"), 64, 48);
    torch::manual_seed(9);
    const auto a0 = torch::randn({8, 64}) * 0.2, b0 = torch::randn({48, 8}) * 0.2;
    const auto x0 = torch::randn({2, 5, 64}).to(dtype), grad = torch::randn({2, 5, 48}).to(dtype);
    linear->lora_scale = 0.5;
    const auto gradients = [&](bool fused) {
      const auto x = x0.clone().requires_grad_(), a = a0.clone().requires_grad_(),
                 b = b0.clone().requires_grad_();
      torch::Tensor y;
      if (fused) {
        linear->lora_A = a;
        linear->lora_B = b;
        y = linear(x);
      } else {
        const auto hidden = torch::linear(x, a.to(dtype)) * 0.5;
        y = torch::linear(x, linear->weight, linear->bias) + torch::linear(hidden, b.to(dtype));
      }
      y.backward(grad);
      return std::vector{x.grad(), a.grad(), b.grad()};
    };
    const auto got = gradients(true), want = gradients(false);
    const double tolerance = dtype == torch::kFloat32 ? 1e-5 : 1.0 / 64;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(got[i].defined()) << i;
      EXPECT_EQ(got[i].scalar_type(), want[i].scalar_type()) << i;
      const double scale = want[i].abs().max().item<double>();
      EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), tolerance * scale)
          << "gradient " << i << ", " << dtype;
    }
  }
}

TEST(Lora, ExportFoldsTheScaleIntoBAndReproducesTheTrainedDelta) {
  testing::TempDir dir;
  Toy model(WeightSource::random(3));
  const auto set = LoraSet::inject(model, {.rank = 2, .alpha = 8, .targets = {"to_q"}});  // scale 4
  for (const auto& adapter : set.adapters()) adapter.linear->lora_B.data().normal_(0, 0.1);
  set.save(dir / "lora.safetensors", {{"reference_downscale_factor", "2"}}, torch::kFloat32);
  const auto file = core::SafetensorsFile::open(dir / "lora.safetensors");
  EXPECT_EQ(file.metadata().at("reference_downscale_factor"), "2");
  ASSERT_EQ(file.entries().size(), 2 * set.adapters().size());
  const auto& adapter = set.adapters().front();
  const auto a = file.entry("diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight");
  const auto b = file.entry("diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(b.shape, (std::vector<int64_t>{6, 2}));

  // Fusing the file into a fresh copy of the base model gives what the adapter computed.
  Toy fused(WeightSource::random(3));
  EXPECT_EQ(fuse_lora_file(fused, dir / "lora.safetensors", 1.0), static_cast<int>(set.adapters().size()));
  const auto x = torch::randn({3, 6});
  const auto with_adapter = models::Linear(adapter.linear)(x);
  const auto with_fused = fused.blocks[0]->as<Block>()->attn1->to_q(x);
  EXPECT_TRUE(torch::allclose(with_fused, with_adapter, 1e-5, 1e-5));

  // bf16 is the delivered default and holds no alpha keys.
  set.save(dir / "lora_bf16.safetensors", {});
  const auto bf16_file = core::SafetensorsFile::open(dir / "lora_bf16.safetensors");
  for (const auto& entry : bf16_file.entries()) {
    EXPECT_EQ(entry.dtype, core::Dtype::bf16) << entry.name;
    EXPECT_EQ(entry.name.find("alpha"), std::string::npos);
  }
}

TEST(Lora, LoadRestoresTheAdaptersAndRefusesAnotherRank) {
  testing::TempDir dir;
  Toy model(WeightSource::random(4));
  const auto set = LoraSet::inject(model, {.rank = 2, .alpha = 4, .targets = {"to_q"}});
  for (const auto& adapter : set.adapters()) adapter.linear->lora_B.data().normal_(0, 0.1);
  set.save(dir / "lora.safetensors", {}, torch::kFloat32);

  Toy restored(WeightSource::random(4));
  auto again = LoraSet::inject(restored, {.rank = 2, .alpha = 4, .targets = {"to_q"}, .seed = 99});
  again.load(dir / "lora.safetensors");
  for (size_t i = 0; i < set.adapters().size(); ++i) {
    EXPECT_TRUE(
        torch::allclose(again.adapters()[i].linear->lora_B, set.adapters()[i].linear->lora_B, 1e-6, 1e-7));
    EXPECT_TRUE(torch::equal(again.adapters()[i].linear->lora_A, set.adapters()[i].linear->lora_A));
  }
  Toy wrong(WeightSource::random(4));
  auto rank4 = LoraSet::inject(wrong, {.rank = 4, .alpha = 4, .targets = {"to_q"}});
  EXPECT_THROW(rank4.load(dir / "lora.safetensors"), core::InvalidInput);
}

TEST(Lora, FusingAFileForAnotherModelIsRefusedNamingTheKeyOrTheShapes) {
  testing::TempDir dir;
  Toy model(WeightSource::random(4));
  const auto set = LoraSet::inject(model, {.rank = 2, .alpha = 4, .targets = {"to_q"}});
  set.save(dir / "lora.safetensors", {}, torch::kFloat32);
  std::string a_name, b_name;
  const auto saved = core::SafetensorsFile::open(dir / "lora.safetensors");
  for (const auto& entry : saved.entries()) {
    if (entry.name.find("lora_A") != std::string::npos && a_name.empty()) a_name = entry.name;
    if (entry.name.find("lora_B") != std::string::npos && b_name.empty()) b_name = entry.name;
  }
  ASSERT_FALSE(a_name.empty() || b_name.empty());
  const auto message_of = [&](const core::NamedTensors& tensors) {
    core::write_tensors(dir / "other.safetensors", tensors);
    Toy base(WeightSource::random(4));
    try {
      fuse_lora_file(base, dir / "other.safetensors", 1.0);
    } catch (const core::InvalidInput& error) {
      return std::string(error.what());
    }
    return std::string("no exception");
  };
  // Keys of a layer this model does not have.
  const auto renamed = [](std::string name) { return name.replace(name.find("to_q"), 4, "to_nowhere"); };
  const auto unknown =
      message_of({{renamed(a_name), torch::zeros({2, 6})}, {renamed(b_name), torch::zeros({6, 2})}});
  EXPECT_NE(unknown.find("name no Linear layer of this model"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("is the LoRA for another model?"), std::string::npos) << unknown;
  // The right layer, shapes of another model.
  const auto misfit = message_of({{a_name, torch::zeros({2, 9})}, {b_name, torch::zeros({6, 2})}});
  EXPECT_NE(misfit.find("do not fit the layer's weight"), std::string::npos) << misfit;
}

}  // namespace
}  // namespace avtrain::train
