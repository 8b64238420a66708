#include "models/wan_dit.h"

#include <cmath>
#include <cstring>
#include <map>

#if __has_include("models/dit_keys.h")
#include "models/dit_keys.h"
#define TW_HAVE_DIT_KEYS 1
#endif
#include "tw/ops.h"

namespace tw::engine {
namespace {

using loader::Checkpoint;

HostTensor host(std::vector<int64_t> shape) { return HostTensor::empty(DType::F32, shape); }

void run_linear(const DitLinear& l, const Tensor& x, const Tensor& y) {
  if (l.quantized()) {
    ops::linear_int8({x, l.w_q, l.w_scale, l.b, y});
  } else {
    ops::linear({x, l.w, l.b, y});
  }
}

// Reads a small float tensor (modulation tables, norms) of any float dtype as f32.
std::vector<float> read_f32(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  to_f32(t, v.data());
  return v;
}

class WeightReader {
 public:
  explicit WeightReader(const Checkpoint& c) : c_(c) {}
  Tensor get(const std::string& key, const std::vector<int64_t>& shape) const { return c_.tensor(key, shape); }
  Tensor opt(const std::string& key, const std::vector<int64_t>& shape) const {
    return c_.has(key) ? c_.tensor(key, shape) : Tensor{};
  }
  // A Linear stored either plain (.weight) or TurboDiffusion-quantized (.int8_weight + .scale).
  DitLinear linear(const std::string& p, int64_t out, int64_t in, bool bias = true) const {
    DitLinear l;
    if (c_.has(p + ".int8_weight")) {
      l.w_q = get(p + ".int8_weight", {out, in});
      check_dtype(l.w_q, DType::I8, "load", (p + ".int8_weight").c_str());
      l.w_scale = get(p + ".scale", {(out + 127) / 128, (in + 127) / 128});
    } else {
      l.w = get(p + ".weight", {out, in});
    }
    if (bias) l.b = get(p + ".bias", {out});
    return l;
  }
  bool has(const std::string& k) const { return c_.has(k); }
  const Checkpoint& ckpt() const { return c_; }
 private:
  const Checkpoint& c_;
};

int64_t count_blocks(const Checkpoint& c) {
  int64_t n = 0;
  while (c.has("blocks." + std::to_string(n) + ".modulation")) ++n;
  return n;
}

// Config as the weights say it is (head dim 128 for every Wan model).
WanDitConfig detect_config(const Checkpoint& c, int64_t text_len) {
  WanDitConfig cfg;
  const auto& pw = c.info("patch_embedding.weight");
  cfg.dim = pw.shape[0];
  cfg.in_dim = pw.shape[1] / 4;
  cfg.model_type = cfg.in_dim == 16 ? "t2v" : "i2v";
  cfg.num_layers = count_blocks(c);
  if (cfg.num_layers == 0)
    throw Error(c.files().front() + ": no 'blocks.0.modulation' key; this is not a Wan DiT checkpoint");
  const std::string ffn = c.has("blocks.0.ffn.0.int8_weight") ? "blocks.0.ffn.0.int8_weight" : "blocks.0.ffn.0.weight";
  cfg.ffn_dim = c.info(ffn).shape[0];
  cfg.text_dim = c.info("text_embedding.0.weight").shape[1];
  cfg.freq_dim = c.info("time_embedding.0.weight").shape[1];
  cfg.out_dim = c.info("head.head.weight").shape[0] / 4;
  cfg.num_heads = cfg.dim / 128;
  cfg.text_len = text_len;
  return cfg;
}

void expect_equal(const std::string& file, const char* field, int64_t expected, int64_t actual) {
  if (expected != actual)
    throw Error(file + ": the weights have " + field + " = " + std::to_string(actual) + " but the model config says " +
                std::to_string(expected) + " (wrong checkpoint for this model?)");
}

}  // namespace

void dit_timestep_embedding(double t, int64_t freq_dim, float* out) {
  const int64_t half = freq_dim / 2;
  for (int64_t j = 0; j < half; ++j) {
    double w = std::pow(10000.0, -double(j) / double(half));
    out[j] = float(std::cos(t * w));
    out[half + j] = float(std::sin(t * w));
  }
}

void dit_patchify(const Tensor& x, const Tensor& cond, int64_t b, float* tokens) {
  const int64_t C = x.shape[1], cc = cond.empty() ? 0 : cond.shape[1], Cin = C + cc;
  const int64_t T = x.shape[2], H = x.shape[3], W = x.shape[4], Hp = H / 2, Wp = W / 2;
  const float* xb = x.ptr<float>() + b * C * T * H * W;
  const float* cb = cc ? cond.ptr<float>() + b * cc * T * H * W : nullptr;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t hp = 0; hp < Hp; ++hp)
      for (int64_t wp = 0; wp < Wp; ++wp) {
        float* row = tokens + ((t * Hp + hp) * Wp + wp) * Cin * 4;
        for (int64_t c = 0; c < Cin; ++c) {
          const float* src = c < C ? xb + c * T * H * W : cb + (c - C) * T * H * W;
          for (int64_t kh = 0; kh < 2; ++kh)
            for (int64_t kw = 0; kw < 2; ++kw) row[c * 4 + kh * 2 + kw] = src[(t * H + 2 * hp + kh) * W + 2 * wp + kw];
        }
      }
}

void dit_unpatchify(const float* tokens, int64_t b, Tensor& out) {
  const int64_t O = out.shape[1], T = out.shape[2], H = out.shape[3], W = out.shape[4], Hp = H / 2, Wp = W / 2;
  float* ob = out.ptr<float>() + b * O * T * H * W;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t hp = 0; hp < Hp; ++hp)
      for (int64_t wp = 0; wp < Wp; ++wp) {
        const float* row = tokens + ((t * Hp + hp) * Wp + wp) * O * 4;
        for (int64_t kh = 0; kh < 2; ++kh)
          for (int64_t kw = 0; kw < 2; ++kw)
            for (int64_t d = 0; d < O; ++d) ob[((d * T + t) * H + 2 * hp + kh) * W + 2 * wp + kw] = row[(kh * 2 + kw) * O + d];
      }
}

WanDitConfig named_dit_config(const std::string& model) {
  WanDitConfig c;
  if (model == "wan2.1-t2v-1.3b") {
    c.dim = 1536; c.ffn_dim = 8960; c.num_heads = 12; c.num_layers = 30; c.in_dim = 16;
  } else if (model == "wan2.1-t2v-14b") {
    c.dim = 5120; c.ffn_dim = 13824; c.num_heads = 40; c.num_layers = 40; c.in_dim = 16;
  } else if (model == "wan2.2-i2v-a14b") {
    c.dim = 5120; c.ffn_dim = 13824; c.num_heads = 40; c.num_layers = 40; c.in_dim = 36; c.model_type = "i2v";
  } else {
    throw Error("unknown model '" + model + "'; known: wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan2.2-i2v-a14b");
  }
  return c;
}

float effective_topk(int64_t L, int blk_k, float topk) {
  const int64_t blocks = (L + blk_k - 1) / blk_k;
  return int64_t(double(topk) * double(blocks)) < 1 ? 1.0f : topk;
}

AttentionKind parse_attention_kind(const std::string& s) {
  if (s == "original") return AttentionKind::Original;
  if (s == "sla") return AttentionKind::Sla;
  if (s == "sagesla") return AttentionKind::SageSla;
  throw Error("attention must be original, sla or sagesla, got '" + s + "'");
}

std::unique_ptr<WanDit> WanDit::load(const std::vector<std::string>& paths, const WanDitConfig* expect, int64_t text_len) {
  auto ckpt = std::make_shared<Checkpoint>(Checkpoint::open(paths));
  return load(ckpt, expect, text_len);
}

std::unique_ptr<WanDit> WanDit::load(std::shared_ptr<Checkpoint> ckpt, const WanDitConfig* expect, int64_t text_len) {
#ifdef TW_HAVE_DIT_KEYS
  normalize_dit_keys(*ckpt);
#endif
  std::unique_ptr<WanDit> m(new WanDit());
  m->ckpt_ = ckpt;
  const std::string& file = ckpt->files().front();
  WanDitConfig cfg = detect_config(*ckpt, text_len);
  if (expect) {
    expect_equal(file, "dim", expect->dim, cfg.dim);
    expect_equal(file, "in_dim", expect->in_dim, cfg.in_dim);
    expect_equal(file, "ffn_dim", expect->ffn_dim, cfg.ffn_dim);
    expect_equal(file, "num_layers", expect->num_layers, cfg.num_layers);
    expect_equal(file, "text_dim", expect->text_dim, cfg.text_dim);
    expect_equal(file, "out_dim", expect->out_dim, cfg.out_dim);
    cfg.num_heads = expect->num_heads;
    cfg.eps = expect->eps;
    cfg.text_len = expect->text_len;
  }
  if (cfg.dim % cfg.num_heads != 0 || cfg.dim / cfg.num_heads != 128)
    throw Error(file + ": dim " + std::to_string(cfg.dim) + " with " + std::to_string(cfg.num_heads) +
                " heads gives a head dim other than 128, which Wan's 3D RoPE needs");
  m->cfg_ = cfg;
  const int64_t D = cfg.dim, F = cfg.ffn_dim;
  WeightReader r(*ckpt);
  m->patch_w_ = r.get("patch_embedding.weight", {D, cfg.in_dim * 4});
  m->patch_b_ = r.get("patch_embedding.bias", {D});
  m->text0_ = r.linear("text_embedding.0", D, cfg.text_dim);
  m->text2_ = r.linear("text_embedding.2", D, D);
  m->time0_ = r.linear("time_embedding.0", D, cfg.freq_dim);
  m->time2_ = r.linear("time_embedding.2", D, D);
  m->time_proj_ = r.linear("time_projection.1", 6 * D, D);
  m->head_ = r.linear("head.head", cfg.out_dim * 4, D);
  m->head_modulation_ = r.get("head.modulation", {1, 2, D});
  m->blocks_.resize(size_t(cfg.num_layers));
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    DitBlock& b = m->blocks_[size_t(i)];
    b.modulation = r.get(p + "modulation", {1, 6, D});
    b.self_q = r.linear(p + "self_attn.q", D, D);
    b.self_k = r.linear(p + "self_attn.k", D, D);
    b.self_v = r.linear(p + "self_attn.v", D, D);
    b.self_o = r.linear(p + "self_attn.o", D, D);
    b.self_norm_q = r.get(p + "self_attn.norm_q.weight", {D});
    b.self_norm_k = r.get(p + "self_attn.norm_k.weight", {D});
    b.proj_l_w = r.opt(p + "self_attn.attn_op.local_attn.proj_l.weight", {128, 128});
    b.proj_l_b = r.opt(p + "self_attn.attn_op.local_attn.proj_l.bias", {128});
    b.norm3_w = r.get(p + "norm3.weight", {D});
    b.norm3_b = r.get(p + "norm3.bias", {D});
    b.cross_q = r.linear(p + "cross_attn.q", D, D);
    b.cross_k = r.linear(p + "cross_attn.k", D, D);
    b.cross_v = r.linear(p + "cross_attn.v", D, D);
    b.cross_o = r.linear(p + "cross_attn.o", D, D);
    b.cross_norm_q = r.get(p + "cross_attn.norm_q.weight", {D});
    b.cross_norm_k = r.get(p + "cross_attn.norm_k.weight", {D});
    b.ffn0 = r.linear(p + "ffn.0", F, D);
    b.ffn2 = r.linear(p + "ffn.2", D, F);
    if (i == 0) {
      m->quantized_ = b.ffn0.quantized();
      m->has_proj_l_ = !b.proj_l_w.empty();
    }
  }
  return m;
}

void WanDit::block_forward(const DitBlock& blk, Tensor& x, const Tensor& ctx, const float* e0, int64_t T, int64_t Hp,
                           int64_t Wp, const AttentionOptions& attn) const {
  const int64_t L = x.shape[0], D = cfg_.dim, F = cfg_.ffn_dim, h = cfg_.num_heads, d = cfg_.head_dim();
  const int64_t Lc = ctx.shape[0];
  // m_k = modulation[k] + e0[k], k = 0..5: shift/scale/gate for attention, then for the FFN.
  std::vector<float> mod = read_f32(blk.modulation);
  for (int64_t i = 0; i < 6 * D; ++i) mod[size_t(i)] += e0[i];
  auto m = [&](int k) { return Tensor::view(mod.data() + k * D, DType::F32, {D}); };

  HostTensor a = host({L, D}), q = host({L, D}), k = host({L, D}), v = host({L, D}), o = host({L, D}), y = host({L, D});
  // ---- self-attention: x += o(attn(rope(norm_q(q(a))), rope(norm_k(k(a))), v(a))) · gate
  ops::layer_norm({x, {}, {}, a.t(), cfg_.eps});
  ops::modulate({a.t(), m(1), m(0), a.t()});
  run_linear(blk.self_q, a.t(), q.t());
  run_linear(blk.self_k, a.t(), k.t());
  run_linear(blk.self_v, a.t(), v.t());
  ops::rms_norm({q.t(), blk.self_norm_q, q.t(), cfg_.eps});
  ops::rms_norm({k.t(), blk.self_norm_k, k.t(), cfg_.eps});
  Tensor q3 = q.t().reshape({L, h, d}), k3 = k.t().reshape({L, h, d}), v3 = v.t().reshape({L, h, d});
  ops::rope3d({q3, T, Hp, Wp});
  ops::rope3d({k3, T, Hp, Wp});
  Tensor o3 = o.t().reshape({L, h, d});
  if (attn.kind == AttentionKind::Original) {
    ops::attention({q3, k3, v3, o3});
  } else {
    if (blk.proj_l_w.empty())
      throw Error("attention '" + std::string(attn.kind == AttentionKind::Sla ? "sla" : "sagesla") +
                  "' needs the SLA proj_l weights, which this checkpoint lacks (an official Wan file?); use attention 'original'");
    ops::SparseLinearAttentionParams sp;
    sp.q = q3; sp.k = k3; sp.v = v3; sp.o = o3;
    sp.proj_w = blk.proj_l_w; sp.proj_b = blk.proj_l_b;
    sp.topk = attn.topk;
    sp.quantized = attn.kind == AttentionKind::SageSla;
    // Block sizes change which keys are attended (facts §4.1); defaults follow the SM90 kernels.
    sp.blk_q = attn.blk_q ? attn.blk_q : (sp.quantized ? 64 : 128);
    sp.blk_k = attn.blk_k ? attn.blk_k : (sp.quantized ? 128 : 64);
    sp.topk = effective_topk(L, sp.blk_k, sp.topk);
    ops::sparse_linear_attention(sp);
  }
  run_linear(blk.self_o, o.t(), y.t());
  ops::gated_add({x, y.t(), m(2)});

  // ---- cross-attention over all text rows (pads included, no mask): x += o(attn(q(norm3(x)), k(c), v(c)))
  HostTensor ck = host({Lc, D}), cv = host({Lc, D});
  ops::layer_norm({x, blk.norm3_w, blk.norm3_b, a.t(), cfg_.eps});
  run_linear(blk.cross_q, a.t(), q.t());
  ops::rms_norm({q.t(), blk.cross_norm_q, q.t(), cfg_.eps});
  run_linear(blk.cross_k, ctx, ck.t());
  ops::rms_norm({ck.t(), blk.cross_norm_k, ck.t(), cfg_.eps});
  run_linear(blk.cross_v, ctx, cv.t());
  ops::attention({q3, ck.t().reshape({Lc, h, d}), cv.t().reshape({Lc, h, d}), o3});
  run_linear(blk.cross_o, o.t(), y.t());
  ops::gated_add({x, y.t(), {}});

  // ---- FFN: x += ffn.2(gelu_tanh(ffn.0(modulate(LN(x))))) · gate
  HostTensor f = host({L, F});
  ops::layer_norm({x, {}, {}, a.t(), cfg_.eps});
  ops::modulate({a.t(), m(4), m(3), a.t()});
  run_linear(blk.ffn0, a.t(), f.t());
  ops::activation({f.t(), f.t(), ops::Activation::GeluTanh});
  run_linear(blk.ffn2, f.t(), y.t());
  ops::gated_add({x, y.t(), m(5)});
}

void WanDit::forward(const Tensor& x, const Tensor& cond, const double* timesteps, const Tensor& context,
                     const AttentionOptions& attn, Tensor& out) const {
  const char* op = "WanDit.forward";
  const int64_t D = cfg_.dim, B = x.shape[0];
  const int64_t cc = cond.empty() ? 0 : cond.shape[1];
  check(x.ndim == 5, op, "latents must be [B, C, T, H, W], got " + x.shape_str());
  check(x.shape[1] + cc == cfg_.in_dim, op,
        "latent channels (" + std::to_string(x.shape[1]) + ") + condition channels (" + std::to_string(cc) +
            ") must equal the model's in_dim " + std::to_string(cfg_.in_dim) +
            (cfg_.in_dim == 36 && cc == 0 ? " (an I2V model needs the image condition)" : ""));
  const int64_t T = x.shape[2], H = x.shape[3], W = x.shape[4];
  check(H % 2 == 0 && W % 2 == 0, op, "latent height and width must be even, got " + x.shape_str());
  if (cc) check_shape(cond, {B, cc, T, H, W}, op, "condition");
  check_shape(context, {B, cfg_.text_len, cfg_.text_dim}, op, "text embedding");
  check_shape(out, {B, cfg_.out_dim, T, H, W}, op, "output");
  check(x.contiguous() && context.contiguous() && out.contiguous() && (cc == 0 || cond.contiguous()), op,
        "tensors must be contiguous");
  const int64_t Hp = H / 2, Wp = W / 2, L = T * Hp * Wp, Cin = cfg_.in_dim;
  const int64_t Lc = cfg_.text_len;

  for (int64_t b = 0; b < B; ++b) {
    // ---- time embedding: e = MLP(sinusoid(t)) [D]; e0 = time_projection(SiLU(e)) [6D]
    HostTensor sinus = host({1, cfg_.freq_dim}), e = host({1, D}), tmp = host({1, D}), e0 = host({1, 6 * D});
    dit_timestep_embedding(timesteps[b], cfg_.freq_dim, sinus.f32());
    run_linear(time0_, sinus.t(), tmp.t());
    ops::activation({tmp.t(), tmp.t(), ops::Activation::Silu});
    run_linear(time2_, tmp.t(), e.t());
    ops::activation({e.t(), tmp.t(), ops::Activation::Silu});
    run_linear(time_proj_, tmp.t(), e0.t());

    // ---- text: c = text_embedding.2(GELU_tanh(text_embedding.0(context))) [Lc, D]
    Tensor ctx_in = context.slice0(b, b + 1).reshape({Lc, cfg_.text_dim});
    HostTensor c1 = host({Lc, D}), ctx = host({Lc, D});
    run_linear(text0_, ctx_in, c1.t());
    ops::activation({c1.t(), c1.t(), ops::Activation::GeluTanh});
    run_linear(text2_, c1.t(), ctx.t());

    // ---- patchify: token n = (t, hp, wp); features (c, kh, kw) → c·4 + kh·2 + kw
    HostTensor patches = host({L, Cin * 4});
    dit_patchify(x, cond, b, patches.f32());
    HostTensor hx = host({L, D});
    ops::linear({patches.t(), patch_w_, patch_b_, hx.t()});

    for (const DitBlock& blk : blocks_) block_forward(blk, hx.t(), ctx.t(), e0.f32(), T, Hp, Wp, attn);

    // ---- head: LN(x)·(1 + hm1) + hm0 with hm = head.modulation + e (not e0), then Linear → [L, out·4]
    std::vector<float> hm = read_f32(head_modulation_);
    for (int64_t k = 0; k < 2; ++k)
      for (int64_t i = 0; i < D; ++i) hm[size_t(k * D + i)] += e.f32()[i];
    HostTensor hn = host({L, D}), ho = host({L, cfg_.out_dim * 4});
    ops::layer_norm({hx.t(), {}, {}, hn.t(), cfg_.eps});
    ops::modulate({hn.t(), Tensor::view(hm.data() + D, DType::F32, {D}), Tensor::view(hm.data(), DType::F32, {D}), hn.t()});
    run_linear(head_, hn.t(), ho.t());

    // ---- unpatchify: features ordered (kh, kw, d) → (kh·2 + kw)·out + d
    dit_unpatchify(ho.f32(), b, out);
  }
}

}  // namespace tw::engine
