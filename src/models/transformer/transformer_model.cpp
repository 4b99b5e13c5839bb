#include "models/transformer/transformer_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/log.h"
#include "models/layers/rms_norm.h"
#include "models/transformer/gradient_checkpoint.h"
#include "models/transformer/rope.h"

namespace avtrain::models {
namespace {

constexpr const char* kPrefix = "model.diffusion_model.";

// The parameter registry of any module (torch::nn::Module keeps it protected): replace_weights swaps
// tensors in place there so that parameters() and the modules' members stay the same tensors.
struct ParameterRegistry : torch::nn::Module {
  static torch::OrderedDict<std::string, torch::Tensor>& of(torch::nn::Module& module) {
    return module.*(&ParameterRegistry::parameters_);
  }
};

double largest_finite(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::max());
    case torch::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::max());
    case torch::kFloat64:
      return std::numeric_limits<double>::max();
    default:
      return static_cast<double>(std::numeric_limits<float>::max());
  }
}

double smallest_normal(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::min());
    case torch::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::min());
    case torch::kFloat64:
      return std::numeric_limits<double>::min();
    default:
      return static_cast<double>(std::numeric_limits<float>::min());
  }
}

// Text padding mask -> additive [B, 1, 1, L]: 0 keep, -max pad; a floating mask is already additive (§6.1).
torch::Tensor additive_context_mask(const torch::Tensor& mask, torch::ScalarType dtype) {
  if (!mask.defined()) return {};
  if (torch::isFloatingType(mask.scalar_type()))
    return mask.dim() == 2 ? mask.unsqueeze(1).unsqueeze(1) : mask;
  const auto bias = (mask.to(torch::kInt64) - 1).to(dtype) * largest_finite(dtype);
  return bias.view({mask.size(0), 1, 1, mask.size(-1)});
}

// Attention strength [B, T, T] in [0, 1] -> log bias [B, 1, T, T]: log(m) for m > 0, the most negative
// finite value otherwise (§6.1).
torch::Tensor strength_log_bias(const torch::Tensor& mask, torch::ScalarType dtype) {
  if (!mask.defined()) return {};
  const auto m = mask.to(dtype);
  const auto lowest = torch::full({}, -largest_finite(dtype), m.options());
  return torch::where(m > 0, torch::log(m.clamp_min(smallest_normal(dtype))), lowest).unsqueeze(1);
}

// Per-token timesteps as [B, T] float32 (accepts [B, T, 1], [B, T], [B, 1], [B]).
torch::Tensor per_token(const torch::Tensor& timesteps, int64_t batch, int64_t tokens, const char* stream) {
  auto t = timesteps.to(torch::kFloat32);
  if (t.dim() == 3) t = t.squeeze(-1);
  if (t.dim() == 1) t = t.unsqueeze(1);
  if (t.dim() != 2 || t.size(0) != batch || (t.size(1) != tokens && t.size(1) != 1)) {
    throw core::InvalidInput(
        fmt::format("{} timesteps have shape {}, expected [{}, {}] (or [{}, {}, 1], [{}])", stream,
                    fmt::join(timesteps.sizes(), "x"), batch, tokens, batch, tokens, batch));
  }
  return t.expand({batch, tokens}).contiguous();
}

// ValuePassThrough etc. for one row of the keep mask ([B] on the CPU).
struct KeepRow {
  torch::Tensor keep;  // undefined: nobody perturbed
  bool all = false;    // everybody perturbed
};
KeepRow keep_row(const torch::Tensor& row, const torch::Device& device) {
  if (row.eq(0).all().item<bool>()) return {{}, true};
  if (row.eq(1).all().item<bool>()) return {};
  return {row.to(device), false};
}

// The per-stream modules the preprocessing uses.
struct StreamModules {
  Linear patchify;
  AdaLnSingle adaln, prompt, cross_scale_shift, cross_gate;
  int64_t dim, heads, in_channels;
  const std::vector<double>* max_pos;
  const char* name;
};

}  // namespace

bool Perturbations::empty() const {
  return std::all_of(samples.begin(), samples.end(), [](const auto& s) { return s.empty(); });
}

torch::Tensor Perturbations::keep_mask(int64_t layers, int64_t batch) const {
  if (!samples.empty() && static_cast<int64_t>(samples.size()) != batch) {
    throw core::InvalidInput(
        fmt::format("perturbations are given for {} samples but the batch has {}", samples.size(), batch));
  }
  auto mask = torch::ones({kPerturbationTypes, layers, batch}, torch::kFloat32);
  for (int64_t b = 0; b < static_cast<int64_t>(samples.size()); ++b) {
    for (const auto& p : samples[static_cast<size_t>(b)]) {
      const auto type = static_cast<int64_t>(p.type);
      if (p.blocks.empty()) mask.select(0, type).select(1, b).fill_(0);
      for (const int64_t block : p.blocks) {
        if (block < 0 || block >= layers) {
          throw core::InvalidInput(
              fmt::format("perturbation block {} is outside the model's {} blocks", block, layers));
        }
        mask[type][block][b] = 0;
      }
    }
  }
  return mask;
}

Perturbations Perturbations::from_keep_mask(const torch::Tensor& keep_mask) {
  TORCH_CHECK(keep_mask.dim() == 3 && keep_mask.size(0) == kPerturbationTypes,
              "keep mask must be [4, blocks, B]");
  const auto mask = keep_mask.to(torch::kCPU, torch::kFloat32);
  Perturbations result;
  result.samples.resize(static_cast<size_t>(mask.size(2)));
  for (int64_t b = 0; b < mask.size(2); ++b) {
    for (int64_t type = 0; type < kPerturbationTypes; ++type) {
      Perturbation p{static_cast<PerturbationType>(type), {}};
      for (int64_t block = 0; block < mask.size(1); ++block) {
        if (mask[type][block][b].item<float>() == 0) p.blocks.push_back(block);
      }
      if (!p.blocks.empty()) result.samples[static_cast<size_t>(b)].push_back(std::move(p));
    }
  }
  return result;
}

void ForwardTrace::record(const std::string& name, const torch::Tensor& tensor) {
  tensors[name] = tensor.detach().to(torch::kCPU, torch::kFloat32);
}

torch::Tensor velocity_to_denoised(const torch::Tensor& latent, const torch::Tensor& velocity,
                                   const torch::Tensor& timesteps) {
  auto t = timesteps.to(torch::kFloat32);
  if (t.dim() == 2) t = t.unsqueeze(-1);
  if (t.dim() == 1) t = t.view({-1, 1, 1});
  return (latent.to(torch::kFloat32) - velocity.to(torch::kFloat32) * t).to(latent.scalar_type());
}

TransformerModelImpl::TransformerModelImpl(const WeightSource& w, const TransformerConfig& c) : config(c) {
  const int64_t dv = c.video_dim(), da = c.audio_dim(), k = c.table_rows();
  patchify_proj = register_module("patchify_proj", Linear(w.at("patchify_proj"), c.in_channels, dv));
  audio_patchify_proj =
      register_module("audio_patchify_proj", Linear(w.at("audio_patchify_proj"), c.audio_in_channels, da));
  const auto adaln = [&](const char* name, int64_t dim, int64_t coefficient) {
    return register_module(name, AdaLnSingle(w.at(name), dim, coefficient));
  };
  adaln_single = adaln("adaln_single", dv, k);
  audio_adaln_single = adaln("audio_adaln_single", da, k);
  if (c.prompt_adaln) {
    prompt_adaln_single = adaln("prompt_adaln_single", dv, 2);
    audio_prompt_adaln_single = adaln("audio_prompt_adaln_single", da, 2);
  }
  av_ca_video_scale_shift_adaln_single = adaln("av_ca_video_scale_shift_adaln_single", dv, 4);
  av_ca_audio_scale_shift_adaln_single = adaln("av_ca_audio_scale_shift_adaln_single", da, 4);
  av_ca_a2v_gate_adaln_single = adaln("av_ca_a2v_gate_adaln_single", dv, 1);
  av_ca_v2a_gate_adaln_single = adaln("av_ca_v2a_gate_adaln_single", da, 1);

  transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  const auto block_weights = w.at("transformer_blocks");
  for (int64_t i = 0; i < c.num_layers; ++i) {
    blocks.push_back(TransformerBlock(block_weights.at(std::to_string(i)), c));
    transformer_blocks->push_back(blocks.back());
  }
  scale_shift_table =
      register_parameter("scale_shift_table", w.take("scale_shift_table", {2, dv}, Init::normal), false);
  audio_scale_shift_table = register_parameter(
      "audio_scale_shift_table", w.take("audio_scale_shift_table", {2, da}, Init::normal), false);
  proj_out = register_module("proj_out", Linear(w.at("proj_out"), dv, c.out_channels));
  audio_proj_out =
      register_module("audio_proj_out", Linear(w.at("audio_proj_out"), da, c.audio_out_channels));
}

torch::ScalarType TransformerModelImpl::dtype() const { return patchify_proj->weight.scalar_type(); }
torch::Device TransformerModelImpl::device() const { return patchify_proj->weight.device(); }

std::vector<std::pair<std::string, Linear>> TransformerModelImpl::named_linears() {
  std::vector<std::pair<std::string, Linear>> result;
  for (const auto& item : named_modules("", /*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<LinearImpl>(item.value()))
      result.emplace_back(item.key(), Linear(linear));
  }
  return result;
}

void TransformerModelImpl::replace_weights(
    const std::function<torch::Tensor(const std::string& key, const torch::Tensor& current)>& make) {
  for (const auto& item : named_modules("", /*include_self=*/true)) {
    auto& registry = ParameterRegistry::of(*item.value());
    for (auto& entry : registry) {
      const auto key = item.key().empty() ? entry.key() : item.key() + "." + entry.key();
      entry.value() = make(key, entry.value()).detach().requires_grad_(false);
    }
    const auto get = [&](const char* name) {
      return registry.contains(name) ? registry[name] : torch::Tensor();
    };
    if (auto* linear = item.value()->as<LinearImpl>()) {
      linear->weight = get("weight");
      linear->bias = get("bias");
    } else if (auto* norm = item.value()->as<RmsNormImpl>()) {
      norm->weight = get("weight");
    } else if (auto* block = item.value()->as<TransformerBlockImpl>()) {
      block->sync_tables();
    }
  }
  scale_shift_table = named_parameters(false)["scale_shift_table"];
  audio_scale_shift_table = named_parameters(false)["audio_scale_shift_table"];
}

TransformerOutput TransformerModelImpl::forward(const std::optional<Modality>& video,
                                                const std::optional<Modality>& audio,
                                                const Perturbations& perturbations, ForwardTrace* trace) {
  const auto dtype = this->dtype();
  const auto device = this->device();
  const auto& c = config;
  StreamModules video_modules{patchify_proj,
                              adaln_single,
                              prompt_adaln_single,
                              av_ca_video_scale_shift_adaln_single,
                              av_ca_a2v_gate_adaln_single,
                              c.video_dim(),
                              c.video_heads,
                              c.in_channels,
                              &c.video_max_pos,
                              "video"};
  StreamModules audio_modules{audio_patchify_proj,
                              audio_adaln_single,
                              audio_prompt_adaln_single,
                              av_ca_audio_scale_shift_adaln_single,
                              av_ca_v2a_gate_adaln_single,
                              c.audio_dim(),
                              c.audio_heads,
                              c.audio_in_channels,
                              &c.audio_max_pos,
                              "audio"};
  const auto record = [&](const std::string& name, const torch::Tensor& t) {
    if (trace && t.defined()) trace->record(name, t);
  };

  // ---- preprocessing, once per forward (§6.1)
  const auto prepare = [&](const Modality& m, StreamModules& s, const Modality* other, torch::Tensor& x,
                           torch::Tensor& embedded) -> StreamInputs {
    StreamInputs in;
    const auto& latent = m.latent;
    if (latent.dim() != 3 || latent.size(2) != s.in_channels) {
      throw core::InvalidInput(fmt::format("{} latent has shape {}, expected [B, T, {}]", s.name,
                                           fmt::join(latent.sizes(), "x"), s.in_channels));
    }
    const int64_t batch = latent.size(0), tokens = latent.size(1);
    in.present = tokens > 0;
    in.run = in.present && m.enabled;
    const std::string n = s.name;
    x = s.patchify(latent.to(device, dtype));
    record(n + ".x_proj", x);
    const auto t = per_token(m.timesteps.to(device), batch, tokens, s.name) * c.timestep_scale;
    auto adaln = s.adaln->distinct(t, dtype);
    in.timestep_mod = TokenModulation::from_index(adaln.modulation, adaln.index);
    embedded = in.timestep_mod.with_rows(adaln.embedded).per_token();  // for the output head
    if (trace) record(n + ".timestep_adaln", in.timestep_mod.per_token());
    record(n + ".embedded_timestep", embedded);
    if (trace) record(n + ".timestep_sinusoid", timestep_sinusoid(t.flatten()));
    const auto sigma = m.sigma.to(device, torch::kFloat32).view({batch, 1});
    if (c.prompt_adaln) {
      in.prompt_mod = s.prompt(sigma * c.timestep_scale, dtype).modulation;
      record(n + ".prompt_timestep", in.prompt_mod);
    }
    in.context = m.context.to(device, dtype);
    in.context_mask =
        additive_context_mask(m.context_mask.defined() ? m.context_mask.to(device) : m.context_mask, dtype);
    record(n + ".context_mask_additive", in.context_mask);
    const auto positions = m.positions.to(device, torch::kFloat32);
    in.rope =
        build_rope(positions, {s.dim, s.heads, *s.max_pos, c.rope_theta, c.double_precision_rope}, dtype);
    record(n + ".pe_cos", in.rope.cos());
    record(n + ".pe_sin", in.rope.sin());
    in.self_mask =
        strength_log_bias(m.attention_mask.defined() ? m.attention_mask.to(device) : m.attention_mask, dtype);
    record(n + ".self_attention_bias", in.self_mask);
    if (other && other->latent.size(1) > 0) {  // the cross-modality inputs exist only with both streams
      const double cross_max = std::max(c.video_max_pos[0], c.audio_max_pos[0]);
      in.cross_rope = build_rope(
          positions.narrow(1, 0, 1),
          {c.audio_cross_attention_dim, s.heads, {cross_max}, c.rope_theta, c.double_precision_rope}, dtype);
      record(n + ".cross_pe_cos", in.cross_rope.cos());
      record(n + ".cross_pe_sin", in.cross_rope.sin());
      in.cross_mod = in.timestep_mod.with_rows(s.cross_scale_shift->distinct(t, dtype).modulation);
      if (trace) record(n + ".cross_scale_shift_timestep", in.cross_mod.per_token());
      // The gate of the update applied to this stream uses the OTHER stream's sigma (§5.3, DECISIONS §2).
      const auto other_sigma = other->sigma.to(device, torch::kFloat32).view({batch, 1});
      in.cross_gate =
          s.cross_gate(other_sigma * c.timestep_scale * (c.av_gate_timestep_scale / c.timestep_scale), dtype)
              .modulation;
      record(n + ".cross_gate_timestep", in.cross_gate);
    }
    return in;
  };

  torch::Tensor xv, xa, emb_v, emb_a;
  StreamInputs vin, ain;
  if (video) vin = prepare(*video, video_modules, audio ? &*audio : nullptr, xv, emb_v);
  if (audio) ain = prepare(*audio, audio_modules, video ? &*video : nullptr, xa, emb_a);
  const int64_t batch = video ? video->latent.size(0) : (audio ? audio->latent.size(0) : 0);
  const auto keep = perturbations.empty() ? torch::Tensor() : perturbations.keep_mask(c.num_layers, batch);

  // ---- the blocks
  for (int64_t i = 0; i < c.num_layers; ++i) {
    BlockPerturbation p;
    if (keep.defined()) {
      const auto row = [&](PerturbationType type) {
        return keep_row(keep[static_cast<int64_t>(type)][i], device);
      };
      const auto vs = row(PerturbationType::skip_video_self_attention);
      const auto as = row(PerturbationType::skip_audio_self_attention);
      const auto a2v = row(PerturbationType::skip_a2v_cross_attention);
      const auto v2a = row(PerturbationType::skip_v2a_cross_attention);
      p.video_self = {vs.keep, vs.all};
      p.audio_self = {as.keep, as.all};
      p.keep_a2v = a2v.keep;
      p.skip_a2v = a2v.all;
      p.keep_v2a = v2a.keep;
      p.skip_v2a = v2a.all;
    }
    auto& block = blocks[static_cast<size_t>(i)];
    if (gradient_checkpointing_ && torch::GradMode::is_enabled()) {
      // Inputs: the stream states, then any shared input that needs a gradient; parameters: the block's
      // trainable tensors, the LoRA adapters included (they are Linear fields, not registered).
      std::vector<torch::Tensor> inputs, parameters;
      if (xv.defined()) inputs.push_back(xv);
      if (xa.defined()) inputs.push_back(xa);
      std::vector<std::pair<int, size_t>> substituted;  // (stream, index in StreamInputs::tensors())
      for (int stream = 0; stream < 2; ++stream) {
        const auto fields = (stream == 0 ? vin : ain).tensors();
        for (size_t j = 0; j < fields.size(); ++j) {
          if (fields[j]->defined() && fields[j]->requires_grad()) {
            substituted.emplace_back(stream, j);
            inputs.push_back(*fields[j]);
          }
        }
      }
      for (const auto& parameter : block->parameters()) {
        if (parameter.requires_grad()) parameters.push_back(parameter);
      }
      for (auto& item : block->named_modules("", false)) {
        if (auto* linear = item.value()->as<LinearImpl>()) {
          for (const auto& t : {linear->lora_A, linear->lora_B}) {
            if (t.defined() && t.requires_grad()) parameters.push_back(t);
          }
        }
      }
      // Everything by value: the backward calls this again after forward() has returned.
      const bool has_v = xv.defined(), has_a = xa.defined(), run_v = vin.run, run_a = ain.run;
      const auto fn = [vin, ain, block, p, substituted, has_v, has_a, run_v,
                       run_a](const std::vector<torch::Tensor>& in, CheckpointPass pass) mutable {
        size_t next = 0;
        const auto xv_in = has_v ? in[next++] : torch::Tensor();
        const auto xa_in = has_a ? in[next++] : torch::Tensor();
        StreamInputs v = vin, a = ain;
        auto v_fields = v.tensors(), a_fields = a.tensors();
        for (const auto& [stream, j] : substituted) *(stream == 0 ? v_fields : a_fields)[j] = in[next++];
        const auto [yv, ya] = block->forward(xv_in, xa_in, v, a, p, pass == CheckpointPass::forward);
        std::vector<torch::Tensor> out;
        if (run_v) out.push_back(yv);
        if (run_a) out.push_back(ya);
        return out;
      };
      const bool keep = kept_attention_blocks_ < 0 || i < kept_attention_blocks_;
      const auto out = checkpoint(fn, inputs, parameters,
                                  keep ? std::optional<int64_t>(kept_attention_min_keys_) : std::nullopt);
      size_t next = 0;
      if (run_v) xv = out[next++];
      if (run_a) xa = out[next++];
    } else {
      std::tie(xv, xa) = block->forward(xv, xa, vin, ain, p);
    }
    record(fmt::format("block{}.video_x", i), xv);
    record(fmt::format("block{}.audio_x", i), xa);
  }

  // ---- output head (§6.4): LayerNorm without affine (fp32 statistics), then the 2-row table + emb
  TransformerOutput output;
  const auto finish = [&](const torch::Tensor& x, const torch::Tensor& table, const torch::Tensor& embedded,
                          Linear& proj) {
    const auto values = table + embedded.unsqueeze(-2);  // [B, T, 2, D]: row 0 shift, row 1 scale
    const auto normed =
        torch::layer_norm(x.to(torch::kFloat32), {x.size(-1)}, {}, {}, c.norm_eps).to(x.scalar_type());
    return proj(torch::addcmul(values.select(2, 0), normed, 1 + values.select(2, 1)));
  };
  if (video) output.video = finish(xv, scale_shift_table, emb_v, proj_out);
  if (audio) output.audio = finish(xa, audio_scale_shift_table, emb_a, audio_proj_out);
  return output;
}

TransformerModel load_transformer(std::shared_ptr<const core::SafetensorsSet> set,
                                  torch::TensorOptions options) {
  const auto names = set->names();
  const bool prefixed =
      std::any_of(names.begin(), names.end(), [](const std::string& n) { return n.rfind(kPrefix, 0) == 0; });
  const auto config = TransformerConfig::from_metadata(set->metadata(), set->description());
  const auto weights = WeightSource::from_checkpoint(set, prefixed ? kPrefix : "", options);
  TransformerModel model(weights, config);
  // The text path's connectors live under the transformer's prefix in the unified checkpoint
  // (specs/text_encoder.md); models/text loads them.
  weights.finish("transformer", {"video_embeddings_connector.", "audio_embeddings_connector."});
  core::logger("models").info("transformer: {} ({})", config.summary(), set->description());
  return model;
}

}  // namespace avtrain::models
