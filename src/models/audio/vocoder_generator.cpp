#include "models/audio/vocoder_generator.h"

#include <torch/torch.h>

namespace avtrain::models {
namespace {

constexpr int64_t kOuterKernel = 7;  // conv_pre and conv_post: k7, padding 3

int64_t same_padding(int64_t kernel, int64_t dilation) { return (kernel * dilation - dilation) / 2; }

}  // namespace

VocoderConv1dImpl::VocoderConv1dImpl(const WeightSource& w, int64_t in, int64_t out, int64_t kernel,
                                     int64_t dilation_, int64_t padding_, bool with_bias)
    : dilation(dilation_), padding(padding_) {
  weight = register_parameter("weight", w.take("weight", {out, in, kernel}), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", w.take("bias", {out}), /*requires_grad=*/false);
}

torch::Tensor VocoderConv1dImpl::forward(const torch::Tensor& x) {
  const std::vector<int64_t> stride_1 = {1}, padding_1 = {padding}, dilation_1 = {dilation};
  return torch::conv1d(x, weight, bias, stride_1, padding_1, dilation_1);
}

VocoderConvTranspose1dImpl::VocoderConvTranspose1dImpl(const WeightSource& w, int64_t in, int64_t out,
                                                       int64_t kernel, int64_t stride_, int64_t padding_)
    : stride(stride_), padding(padding_) {
  weight = register_parameter("weight", w.take("weight", {in, out, kernel}), /*requires_grad=*/false);
  bias = register_parameter("bias", w.take("bias", {out}), /*requires_grad=*/false);
}

torch::Tensor VocoderConvTranspose1dImpl::forward(const torch::Tensor& x) {
  return torch::conv_transpose1d(x, weight, bias, stride, padding);
}

AmpBlock1Impl::AmpBlock1Impl(const WeightSource& w, int64_t channels, int64_t kernel,
                             const std::vector<int64_t>& dilations) {
  convs1 = register_module("convs1", torch::nn::ModuleList());
  convs2 = register_module("convs2", torch::nn::ModuleList());
  acts1 = register_module("acts1", torch::nn::ModuleList());
  acts2 = register_module("acts2", torch::nn::ModuleList());
  for (size_t m = 0; m < dilations.size(); ++m) {
    const auto name = std::to_string(m);
    convs1->push_back(VocoderConv1d(w.at("convs1").at(name), channels, channels, kernel, dilations[m],
                                    same_padding(kernel, dilations[m])));
    convs2->push_back(
        VocoderConv1d(w.at("convs2").at(name), channels, channels, kernel, 1, same_padding(kernel, 1)));
    acts1->push_back(AntiAliasedSnakeBeta(w.at("acts1").at(name), channels));
    acts2->push_back(AntiAliasedSnakeBeta(w.at("acts2").at(name), channels));
  }
}

torch::Tensor AmpBlock1Impl::forward(const torch::Tensor& x_in) {
  auto x = x_in;
  for (size_t m = 0; m < convs1->size(); ++m) {
    auto xt = acts1[m]->as<AntiAliasedSnakeBetaImpl>()->forward(x);
    xt = convs1[m]->as<VocoderConv1dImpl>()->forward(xt);
    xt = acts2[m]->as<AntiAliasedSnakeBetaImpl>()->forward(xt);
    xt = convs2[m]->as<VocoderConv1dImpl>()->forward(xt);
    x = xt + x;
  }
  return x;
}

VocoderGeneratorImpl::VocoderGeneratorImpl(const WeightSource& w, const VocoderGeneratorConfig& c)
    : config(c) {
  const int64_t u0 = c.upsample_initial_channel;
  conv_pre = register_module("conv_pre", VocoderConv1d(w.at("conv_pre"), c.in_channels, u0, kOuterKernel, 1,
                                                       same_padding(kOuterKernel, 1)));
  ups = register_module("ups", torch::nn::ModuleList());
  resblocks = register_module("resblocks", torch::nn::ModuleList());
  int64_t channels = u0;
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    const int64_t k = c.upsample_kernel_sizes[i], r = c.upsample_rates[i];
    const int64_t out = u0 >> (i + 1);
    ups->push_back(
        VocoderConvTranspose1d(w.at("ups").at(std::to_string(i)), channels, out, k, r, (k - r) / 2));
    for (size_t j = 0; j < c.resblock_kernel_sizes.size(); ++j) {
      const auto index = std::to_string(i * c.resblock_kernel_sizes.size() + j);
      resblocks->push_back(AmpBlock1(w.at("resblocks").at(index), out, c.resblock_kernel_sizes[j],
                                     c.resblock_dilation_sizes[j]));
    }
    channels = out;
  }
  act_post = register_module("act_post", AntiAliasedSnakeBeta(w.at("act_post"), channels));
  conv_post =
      register_module("conv_post", VocoderConv1d(w.at("conv_post"), channels, c.out_channels(), kOuterKernel,
                                                 1, same_padding(kOuterKernel, 1), c.use_bias_at_final));
}

torch::Tensor VocoderGeneratorImpl::forward(const torch::Tensor& mel) {
  TORCH_CHECK(mel.dim() == 4 && mel.size(1) * mel.size(3) == config.in_channels,
              "vocoder generator: expected a mel [B, 2, T, ", config.in_channels / 2, "], got ", mel.sizes());
  // [B, 2, T, mels] -> [B, 2, mels, T] -> [B, 2 * mels, T]: channel = stereo * mels + bin.
  auto x = conv_pre(mel.transpose(2, 3).flatten(1, 2));
  const auto kernels = static_cast<int64_t>(config.resblock_kernel_sizes.size());
  for (size_t i = 0; i < ups->size(); ++i) {
    x = ups[i]->as<VocoderConvTranspose1dImpl>()->forward(x);
    torch::Tensor sum;
    for (int64_t j = 0; j < kernels; ++j) {
      const auto y = resblocks[i * kernels + j]->as<AmpBlock1Impl>()->forward(x);
      sum = sum.defined() ? sum + y : y;
    }
    x = sum / kernels;  // the mean of the AMP blocks
  }
  x = conv_post(act_post(x));
  if (config.apply_final_activation)
    x = config.use_tanh_at_final ? torch::tanh(x) : torch::clamp(x, -1.0, 1.0);
  return x;
}

}  // namespace avtrain::models
