#include "models/transformer/transformer_block.h"

#include <torch/torch.h>

#include "models/layers/rms_norm.h"
#include "models/transformer/modulation.h"

namespace avtrain::models {
namespace {

torch::Tensor per_sample(const torch::Tensor& keep, const torch::Tensor& like) {
  return keep.to(like.device(), like.scalar_type()).view({-1, 1, 1});
}

}  // namespace

std::vector<torch::Tensor*> StreamInputs::tensors() {
  return {&timestep_mod.rows, &prompt_mod, &context, &context_mask, &rope.cos_pairs, &rope.signed_sin, &self_mask,
          &cross_rope.cos_pairs, &cross_rope.signed_sin, &cross_mod.rows, &cross_gate};
}

TransformerBlockImpl::TransformerBlockImpl(const WeightSource& w, const TransformerConfig& c) : config(c) {
  const int64_t dv = c.video_dim(), da = c.audio_dim();
  const auto options = [&](int64_t query, int64_t context, int64_t heads, int64_t head_dim) {
    return AttentionOptions{query, context, heads, head_dim, c.norm_eps, c.gated_attention};
  };
  attn1 = register_module("attn1", Attention(w.at("attn1"), options(dv, dv, c.video_heads, c.video_head_dim)));
  attn2 = register_module("attn2", Attention(w.at("attn2"), options(dv, c.cross_attention_dim, c.video_heads,
                                                                     c.video_head_dim)));
  audio_attn1 = register_module("audio_attn1",
                                Attention(w.at("audio_attn1"), options(da, da, c.audio_heads, c.audio_head_dim)));
  audio_attn2 = register_module("audio_attn2", Attention(w.at("audio_attn2"), options(da, c.audio_cross_attention_dim,
                                                                                       c.audio_heads, c.audio_head_dim)));
  // Both AV directions use the audio geometry: Ha heads of da, inner Dx = Ha*da (§1.2).
  audio_to_video_attn = register_module(
      "audio_to_video_attn", Attention(w.at("audio_to_video_attn"), options(dv, da, c.audio_heads, c.audio_head_dim)));
  video_to_audio_attn = register_module(
      "video_to_audio_attn", Attention(w.at("video_to_audio_attn"), options(da, dv, c.audio_heads, c.audio_head_dim)));
  ff = register_module("ff", FeedForward(w.at("ff"), dv, 4 * dv, c.ff_bias));
  audio_ff = register_module("audio_ff", FeedForward(w.at("audio_ff"), da, 4 * da, c.audio_ff_bias));

  const int64_t k = c.table_rows();
  const auto table = [&](const char* name, std::vector<int64_t> shape) {
    return register_parameter(name, w.take(name, std::move(shape), Init::normal), /*requires_grad=*/false);
  };
  scale_shift_table = table("scale_shift_table", {k, dv});
  audio_scale_shift_table = table("audio_scale_shift_table", {k, da});
  if (c.cross_attention_adaln) {
    prompt_scale_shift_table = table("prompt_scale_shift_table", {2, dv});
    audio_prompt_scale_shift_table = table("audio_prompt_scale_shift_table", {2, da});
  }
  scale_shift_table_a2v_ca_video = table("scale_shift_table_a2v_ca_video", {5, dv});
  scale_shift_table_a2v_ca_audio = table("scale_shift_table_a2v_ca_audio", {5, da});
}

void TransformerBlockImpl::sync_tables() {
  const auto params = named_parameters(/*recurse=*/false);
  const auto get = [&](const char* name) { return params.contains(name) ? params[name] : torch::Tensor(); };
  scale_shift_table = get("scale_shift_table");
  audio_scale_shift_table = get("audio_scale_shift_table");
  prompt_scale_shift_table = get("prompt_scale_shift_table");
  audio_prompt_scale_shift_table = get("audio_prompt_scale_shift_table");
  scale_shift_table_a2v_ca_video = get("scale_shift_table_a2v_ca_video");
  scale_shift_table_a2v_ca_audio = get("scale_shift_table_a2v_ca_audio");
}

std::pair<torch::Tensor, torch::Tensor> TransformerBlockImpl::forward(const torch::Tensor& xv_in,
                                                                      const torch::Tensor& xa_in,
                                                                      const StreamInputs& v, const StreamInputs& a,
                                                                      const BlockPerturbation& p,
                                                                      bool output_values_needed) {
  const double eps = config.norm_eps;
  auto xv = xv_in, xa = xa_in;
  ModulationRows vrow, arow;  // VROW(p), ARROW(p)
  // ---- self-attention + text cross-attention, one stream at a time
  const auto self_and_text = [&](torch::Tensor& x, const StreamInputs& s, Attention& self_attention,
                                 Attention& text_attention, const torch::Tensor& table,
                                 const torch::Tensor& prompt_table, const ValuePassThrough& pass_through) {
    auto rows = table_rows(table, s.timestep_mod);
    x = add_gated(x, self_attention(modulate(x, rows, 1, 0, eps), torch::Tensor(), s.self_mask, &s.rope, nullptr,
                                    pass_through),
                  rows, 2);
    if (config.cross_attention_adaln) {
      const auto q_in = modulate(x, rows, 7, 6, eps);
      // [B, 1, 2, D]: one prompt row pair per sample
      const auto prompt = prompt_table + s.prompt_mod.unflatten(-1, {prompt_table.size(0), prompt_table.size(1)});
      // The context itself is not normalized here (§6.2).
      const auto kv_in = torch::addcmul(prompt.select(2, 0), s.context, 1 + prompt.select(2, 1));
      x = add_gated(x, text_attention(q_in, kv_in, s.context_mask), rows, 8);
    } else {
      x = x + text_attention(rms_norm(x, eps), s.context, s.context_mask);
    }
    return rows;
  };
  if (v.run) vrow = self_and_text(xv, v, attn1, attn2, scale_shift_table, prompt_scale_shift_table, p.video_self);
  if (a.run) {
    arow = self_and_text(xa, a, audio_attn1, audio_attn2, audio_scale_shift_table, audio_prompt_scale_shift_table,
                         p.audio_self);
  }

  // ---- audio <-> video cross-attention, both from the state after the text cross-attentions
  const bool run_a2v = v.run && a.present && !p.skip_a2v;
  const bool run_v2a = a.run && v.present && !p.skip_v2a;
  if (run_a2v || run_v2a) {
    // Both directions read both states as they were after the text cross-attentions, each normalized once.
    const auto v0 = rms_norm(xv, eps), a0 = rms_norm(xa, eps);
    // Scale before shift in these tables, unlike the main table (§5.4).
    const auto vx = table_rows(scale_shift_table_a2v_ca_video.narrow(0, 0, 4), v.cross_mod);
    const auto ax = table_rows(scale_shift_table_a2v_ca_audio.narrow(0, 0, 4), a.cross_mod);
    if (run_a2v) {
      const auto q = modulate_normed(v0, vx, 0, 1);
      const auto kv = modulate_normed(a0, ax, 0, 1);
      auto gate = scale_shift_table_a2v_ca_video[4] + v.cross_gate;  // [B, 1, Dv]
      if (p.keep_a2v.defined()) gate = gate * per_sample(p.keep_a2v, gate);  // keep is 0 or 1: exact
      xv = add_gated(xv, audio_to_video_attn(q, kv, torch::Tensor(), &v.cross_rope, &a.cross_rope), gate);
    }
    if (run_v2a) {
      const auto q = modulate_normed(a0, ax, 2, 3);
      const auto kv = modulate_normed(v0, vx, 2, 3);
      auto gate = scale_shift_table_a2v_ca_audio[4] + a.cross_gate;  // [B, 1, Da]
      if (p.keep_v2a.defined()) gate = gate * per_sample(p.keep_v2a, gate);
      xa = add_gated(xa, video_to_audio_attn(q, kv, torch::Tensor(), &a.cross_rope, &v.cross_rope), gate);
    }
  }

  // ---- feed-forwards: each stream's last work, so only their gradients are needed when the outputs' values are
  // not (in a recompute that skips the video FFN's output GEMM: 1.9 TFLOP per block at the default size).
  const auto feed_forward = [&](FeedForward& net, const torch::Tensor& x) {
    return output_values_needed ? net(x) : net->forward_for_gradient(x);
  };
  if (v.run) xv = add_gated(xv, feed_forward(ff, modulate(xv, vrow, 4, 3, eps)), vrow, 5);
  if (a.run) xa = add_gated(xa, feed_forward(audio_ff, modulate(xa, arow, 4, 3, eps)), arow, 5);
  return {xv, xa};
}

}  // namespace avtrain::models
