#include "models/layers/linear.h"

#include <torch/torch.h>

namespace avtrain::models {

namespace {

// y = x W^T + b + scale (x A^T) B^T for x [rows, in], with the adapter in x's dtype and its masters A, B
// float32 (gradients returned in float32). One autograd node instead of the base linear, the adapter's two
// GEMMs, the scale and the add: its backward adds the adapter's share of x's gradient inside the GEMM
// (addmm_, beta = 1) rather than writing it separately and adding it, two passes over [rows, in] fewer.
class LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& lora_A, const torch::Tensor& lora_B, const torch::Tensor& weight,
                               const torch::Tensor& bias, double scale) {
    const auto dtype = x.scalar_type();
    const auto a = lora_A.to(dtype), b = lora_B.to(dtype);
    auto hidden = x.mm(a.t());  // [rows, r]
    if (scale != 1.0) hidden.mul_(scale);
    auto y = bias.defined() ? at::addmm(bias, x, weight.t()) : x.mm(weight.t());
    y.addmm_(hidden, b.t());
    ctx->save_for_backward({x, hidden, a, b, weight});
    ctx->saved_data["scale"] = scale;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &hidden = saved[1], &a = saved[2], &b = saved[3], &weight = saved[4];
    const double scale = ctx->saved_data["scale"].toDouble();
    const auto grad = grad_outputs[0].contiguous();
    auto grad_hidden = grad.mm(b);  // [rows, r], d loss / d (x A^T)
    if (scale != 1.0) grad_hidden.mul_(scale);
    torch::Tensor grad_x, grad_A, grad_B;
    if (ctx->needs_input_grad(0)) grad_x = grad.mm(weight).addmm_(grad_hidden, a);
    if (ctx->needs_input_grad(1)) grad_A = grad_hidden.t().mm(x).to(torch::kFloat32);
    if (ctx->needs_input_grad(2)) grad_B = grad.t().mm(hidden).to(torch::kFloat32);
    return {grad_x, grad_A, grad_B, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

LinearImpl::LinearImpl(const WeightSource& weights, int64_t in, int64_t out, bool with_bias)
    : in_features(in), out_features(out) {
  weight = register_parameter("weight", weights.take("weight", {out, in}), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", weights.take("bias", {out}), /*requires_grad=*/false);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  if (!lora_A.defined()) return torch::linear(x, weight, bias);
  // The reference trains under bf16 autocast, so the adapter's matmuls run in the activation dtype with its
  // float32 masters cast on the way in (trainer.md §3.2).
  TORCH_CHECK(!weight.requires_grad() && !(bias.defined() && bias.requires_grad()),
              "a linear with a LoRA adapter keeps its own weights frozen");
  const auto rows = x.numel() / in_features;
  auto sizes = x.sizes().vec();
  sizes.back() = out_features;
  return LoraLinearFunction::apply(x.reshape({rows, in_features}), lora_A, lora_B, weight, bias, lora_scale)
      .view(sizes);
}

}  // namespace avtrain::models
