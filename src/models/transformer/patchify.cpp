#include "models/transformer/patchify.h"

#include <torch/torch.h>



namespace avtrain::models {

torch::Tensor patchify_video(const torch::Tensor& latent) {
  TORCH_CHECK(latent.dim() == 5, "patchify_video expects [B, C, F, H, W], got ", latent.sizes());
  return latent.flatten(2).transpose(1, 2).contiguous();
}

torch::Tensor unpatchify_video(const torch::Tensor& tokens, int64_t frames, int64_t height, int64_t width) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(1) == frames * height * width, "unpatchify_video: tokens ",
              tokens.sizes(), " do not hold ", frames, "x", height, "x", width, " positions");
  return tokens.transpose(1, 2).reshape({tokens.size(0), tokens.size(2), frames, height, width}).contiguous();
}

torch::Tensor patchify_audio(const torch::Tensor& latent) {
  TORCH_CHECK(latent.dim() == 4, "patchify_audio expects [B, C, T, M], got ", latent.sizes());
  return latent.transpose(1, 2).flatten(2).contiguous();
}

torch::Tensor unpatchify_audio(const torch::Tensor& tokens, int64_t channels, int64_t mel_bins) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(2) == channels * mel_bins, "unpatchify_audio: tokens ",
              tokens.sizes(), " do not have ", channels, "x", mel_bins, " features");
  return tokens.unflatten(2, {channels, mel_bins}).transpose(1, 2).contiguous();
}

}  // namespace avtrain::models
