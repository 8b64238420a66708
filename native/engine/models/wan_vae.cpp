// Wan2.1 VAE forward in ops (wan/modules/vae.py WanVAE_ semantics, fp32 on the CPU backend).
// Activations are channel-first [C, T, H, W] without a batch dim.
#include "models/wan_vae.h"

#include <algorithm>
#include <cstring>

#include "tw/ops.h"
#include "tw/ops_conv.h"

namespace tw::engine {
namespace {

// Wan2.1 latent statistics (wan/modules/vae.py WanVAE), fp32.
const float kMean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                         0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
const float kStd[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                        3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

// ---------------------------------------------------------------- loading
struct Loader {
  const loader::Checkpoint& ck;
  std::string file;

  [[noreturn]] void fail(const std::string& msg) const { throw Error(file + ": " + msg); }

  // A conv at `p` (p.weight, p.bias) with `in` input channels and the given kernel; out from the weights.
  VaeConv conv(const std::string& p, int64_t in, std::vector<int64_t> kernel) const {
    if (!ck.has(p + ".weight")) fail("missing key '" + p + ".weight'");
    const auto& info = ck.info(p + ".weight");
    if (info.shape.size() != kernel.size() + 2) fail("key '" + p + ".weight' has rank " + std::to_string(info.shape.size()) + ", expected " + std::to_string(kernel.size() + 2));
    std::vector<int64_t> shape{info.shape[0], in};
    shape.insert(shape.end(), kernel.begin(), kernel.end());
    VaeConv c;
    c.weight = ck.tensor(p + ".weight", shape);
    c.bias = ck.tensor(p + ".bias", {info.shape[0]});
    return c;
  }
  Tensor gamma(const std::string& p, int64_t ch, int images_dims) const {
    std::vector<int64_t> shape{ch};
    for (int i = 0; i < images_dims; ++i) shape.push_back(1);
    return ck.tensor(p, shape);
  }

  VaeResidualBlock residual(const std::string& p, int64_t in) const {
    VaeResidualBlock r;
    r.in_ch = in;
    r.residual_0_gamma = gamma(p + ".residual.0.gamma", in, 3);
    r.residual_2 = conv(p + ".residual.2", in, {3, 3, 3});
    r.out_ch = r.residual_2.out_ch();
    r.residual_3_gamma = gamma(p + ".residual.3.gamma", r.out_ch, 3);
    r.residual_6 = conv(p + ".residual.6", r.out_ch, {3, 3, 3});
    if (r.residual_6.out_ch() != r.out_ch) fail("key '" + p + ".residual.6.weight' must have " + std::to_string(r.out_ch) + " output channels");
    if (ck.has(p + ".shortcut.weight")) {
      r.shortcut = conv(p + ".shortcut", in, {1, 1, 1});
      if (r.shortcut.out_ch() != r.out_ch) fail("key '" + p + ".shortcut.weight' must have " + std::to_string(r.out_ch) + " output channels");
    } else if (in != r.out_ch) {
      fail("missing key '" + p + ".shortcut.weight' (the block maps " + std::to_string(in) + " to " + std::to_string(r.out_ch) + " channels)");
    }
    return r;
  }

  VaeAttentionBlock attention(const std::string& p, int64_t ch) const {
    VaeAttentionBlock a;
    a.ch = ch;
    a.norm_gamma = gamma(p + ".norm.gamma", ch, 2);
    a.to_qkv = conv(p + ".to_qkv", ch, {1, 1});
    if (a.to_qkv.out_ch() != 3 * ch) fail("key '" + p + ".to_qkv.weight' must have " + std::to_string(3 * ch) + " output channels");
    a.proj = conv(p + ".proj", ch, {1, 1});
    if (a.proj.out_ch() != ch) fail("key '" + p + ".proj.weight' must have " + std::to_string(ch) + " output channels");
    return a;
  }

  VaeResample resample(const std::string& p, int64_t ch, bool up) const {
    VaeResample r;
    r.in_ch = ch;
    const bool temporal = ck.has(p + ".time_conv.weight");
    if (up) {
      r.mode = temporal ? VaeResample::Upsample3d : VaeResample::Upsample2d;
      if (temporal) {
        r.time_conv = conv(p + ".time_conv", ch, {3, 1, 1});
        if (r.time_conv.out_ch() != 2 * ch) fail("key '" + p + ".time_conv.weight' must have " + std::to_string(2 * ch) + " output channels");
      }
    } else {
      r.mode = temporal ? VaeResample::Downsample3d : VaeResample::Downsample2d;
      if (temporal) {
        r.time_conv = conv(p + ".time_conv", ch, {3, 1, 1});
        if (r.time_conv.out_ch() != ch) fail("key '" + p + ".time_conv.weight' must have " + std::to_string(ch) + " output channels");
      }
    }
    r.resample_1 = conv(p + ".resample.1", ch, {3, 3});
    r.out_ch = r.resample_1.out_ch();
    return r;
  }

  // The layers at `p`.0, `p`.1, ... in order (kind told by the keys present).
  std::vector<VaeLayer> layers(const std::string& p, int64_t& ch, bool up) const {
    std::vector<VaeLayer> out;
    for (int i = 0;; ++i) {
      const std::string q = p + "." + std::to_string(i);
      VaeLayer l;
      if (ck.has(q + ".residual.0.gamma")) {
        l.kind = VaeLayer::Residual;
        l.res = residual(q, ch);
      } else if (ck.has(q + ".norm.gamma")) {
        l.kind = VaeLayer::Attention;
        l.attn = attention(q, ch);
      } else if (ck.has(q + ".resample.1.weight")) {
        l.kind = VaeLayer::Resample;
        l.resample = resample(q, ch, up);
      } else {
        break;
      }
      ch = l.out_ch();
      out.push_back(std::move(l));
    }
    return out;
  }

  VaeCoder coder(const std::string& p, int64_t in, bool decoder, int64_t& out_ch, std::vector<int64_t>& widths) const {
    VaeCoder c;
    c.conv1 = conv(p + ".conv1", in, {3, 3, 3});
    int64_t ch = c.conv1.out_ch();
    auto middle_and_stages = [&] {
      c.middle = layers(p + ".middle", ch, decoder);
      if (c.middle.size() != 3 || c.middle[1].kind != VaeLayer::Attention)
        fail("'" + p + ".middle' must be [ResidualBlock, AttentionBlock, ResidualBlock]");
    };
    if (decoder) middle_and_stages();
    c.stages = layers(p + (decoder ? ".upsamples" : ".downsamples"), ch, decoder);
    if (c.stages.empty()) fail("no '" + p + (decoder ? ".upsamples.0" : ".downsamples.0") + "' layers");
    if (!decoder) middle_and_stages();
    c.head_0_gamma = gamma(p + ".head.0.gamma", ch, 3);
    c.head_2 = conv(p + ".head.2", ch, {3, 3, 3});
    out_ch = c.head_2.out_ch();
    for (const auto& l : c.stages) widths.push_back(l.out_ch());
    return c;
  }
};

// ---------------------------------------------------------------- tensors
HostTensor new_video(int64_t C, int64_t T, int64_t H, int64_t W) { return HostTensor::empty(DType::F32, {C, T, H, W}); }

// Frames [t0, t0 + n) of x [C, T, H, W] → [C, n, H, W].
HostTensor frames(const Tensor& x, int64_t t0, int64_t n) {
  const int64_t C = x.size(0), T = x.size(1), HW = x.size(2) * x.size(3);
  HostTensor y = new_video(C, n, x.size(2), x.size(3));
  for (int64_t c = 0; c < C; ++c)
    std::memcpy(y.f32() + c * n * HW, x.ptr<float>() + (c * T + t0) * HW, size_t(n * HW) * sizeof(float));
  return y;
}

// cat([a, b], T)
HostTensor cat_frames(const Tensor& a, const Tensor& b) {
  const int64_t C = a.size(0), Ta = a.size(1), Tb = b.size(1), HW = a.size(2) * a.size(3);
  HostTensor y = new_video(C, Ta + Tb, a.size(2), a.size(3));
  for (int64_t c = 0; c < C; ++c) {
    std::memcpy(y.f32() + c * (Ta + Tb) * HW, a.ptr<float>() + c * Ta * HW, size_t(Ta * HW) * sizeof(float));
    std::memcpy(y.f32() + (c * (Ta + Tb) + Ta) * HW, b.ptr<float>() + c * Tb * HW, size_t(Tb * HW) * sizeof(float));
  }
  return y;
}

// One CausalConv3d's cache slot across chunks (feat_cache[idx] of the reference).
struct CacheSlot {
  enum State { Empty, Rep, Frames } state = Empty;  // Rep: upsample3d's first chunk marker
  HostTensor frames;
};

// The slots of one encode/decode run, handed out in execution order (feat_idx of the reference).
struct Caches {
  std::vector<CacheSlot> slots;
  size_t next = 0;
  void new_chunk() { next = 0; }
  CacheSlot& take() {
    if (next == slots.size()) slots.emplace_back();
    return slots[next++];
  }
};

// The frames the reference keeps for the next chunk: the last CACHE_T = 2 frames of this conv's
// input, or (one-frame chunk) the previous cache's last frame followed by this frame.
HostTensor next_cache(const Tensor& x, const CacheSlot& slot) {
  const int64_t T = x.size(1);
  if (T >= 2) return frames(x, T - 2, 2);
  HostTensor cur = frames(x, 0, 1);
  if (slot.state == CacheSlot::Frames) {
    HostTensor last = frames(slot.frames.t(), slot.frames.t().size(1) - 1, 1);
    return cat_frames(last.t(), cur.t());
  }
  return cur;
}

// CausalConv3d with kernel (kt, k, k), time padding 2·(kt/2) in front, spatial padding k/2.
// x: [Cin, T, H, W] → [Cout, T', H, W]; slot: the cache of this conv (null: none).
HostTensor causal_conv(const VaeConv& cv, const Tensor& x, CacheSlot* slot) {
  const int64_t kt = cv.weight.size(2), k = cv.weight.size(3);
  const int64_t pad_front = 2 * (kt / 2), ps = k / 2;
  ops::Conv3dParams p;
  p.x = x, p.w = cv.weight, p.b = cv.bias;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = ps;
  p.pad_t = pad_front;
  HostTensor new_cache;
  if (slot) {
    new_cache = next_cache(x, *slot);
    if (slot->state == CacheSlot::Frames && pad_front > 0) {
      p.cache = slot->frames.t();
      p.pad_t = std::max<int64_t>(0, pad_front - p.cache.size(1));
    }
  }
  const int64_t To = ops::conv_out_size(x.size(1) + (p.cache.empty() ? 0 : p.cache.size(1)), p.pad_t, kt, 1, "time");
  HostTensor y = new_video(cv.out_ch(), To, x.size(2), x.size(3));
  p.y = y.t();
  ops::conv3d(p);
  if (slot) {
    slot->frames = std::move(new_cache);
    slot->state = CacheSlot::Frames;
  }
  return y;
}

// RMS_norm(images=False) then SiLU: x [C, T, H, W]
HostTensor norm_silu(const Tensor& gamma, const Tensor& x) {
  HostTensor y = new_video(x.size(0), x.size(1), x.size(2), x.size(3));
  ops::channel_rms_norm({x, gamma, {}, y.t()});
  ops::activation({y.t(), y.t(), ops::Activation::Silu});
  return y;
}

void add_inplace(HostTensor& x, const Tensor& y) {  // x += y
  const int64_t C = x.t().size(0), n = x.numel() / C;
  ops::gated_add({x.t().reshape({C, n}), y.reshape({C, n}), {}});
}

HostTensor residual_block(const VaeResidualBlock& b, const Tensor& x, Caches& caches) {
  HostTensor h;
  if (!b.shortcut.weight.empty()) h = causal_conv(b.shortcut, x, nullptr);
  HostTensor r = norm_silu(b.residual_0_gamma, x);
  r = causal_conv(b.residual_2, r.t(), &caches.take());
  r = norm_silu(b.residual_3_gamma, r.t());
  r = causal_conv(b.residual_6, r.t(), &caches.take());
  add_inplace(r, b.shortcut.weight.empty() ? x : h.t());
  return r;
}

// Single-head attention over the H·W pixels of each frame, plus the input.
HostTensor attention_block(const VaeAttentionBlock& a, const Tensor& x) {
  const int64_t C = x.size(0), T = x.size(1), H = x.size(2), W = x.size(3), L = H * W;
  HostTensor out = new_video(C, T, H, W);
  HostTensor n = HostTensor::empty(DType::F32, {C, L}), nt = HostTensor::empty(DType::F32, {L, C});
  HostTensor q = HostTensor::empty(DType::F32, {L, C}), k = HostTensor::empty(DType::F32, {L, C});
  HostTensor v = HostTensor::empty(DType::F32, {L, C}), o = HostTensor::empty(DType::F32, {L, C});
  HostTensor pj = HostTensor::empty(DType::F32, {L, C}), pt = HostTensor::empty(DType::F32, {C, L});
  const Tensor wqkv = a.to_qkv.weight.reshape({3 * C, C}), bqkv = a.to_qkv.bias;
  const Tensor wproj = a.proj.weight.reshape({C, C});
  for (int64_t t = 0; t < T; ++t) {
    HostTensor xf = frames(x, t, 1);  // [C, 1, H, W]
    const Tensor xt = xf.t().reshape({C, L});
    ops::channel_rms_norm({xt, a.norm_gamma, {}, n.t()});
    ops::transpose2d({n.t(), nt.t()});
    // q, k, v = channels [0,C), [C,2C), [2C,3C) of to_qkv   // [L, C]
    ops::linear({nt.t(), wqkv.slice0(0, C), bqkv.slice0(0, C), q.t()});
    ops::linear({nt.t(), wqkv.slice0(C, 2 * C), bqkv.slice0(C, 2 * C), k.t()});
    ops::linear({nt.t(), wqkv.slice0(2 * C, 3 * C), bqkv.slice0(2 * C, 3 * C), v.t()});
    ops::attention({q.t().reshape({L, 1, C}), k.t().reshape({L, 1, C}), v.t().reshape({L, 1, C}), o.t().reshape({L, 1, C}), 0.f});
    ops::linear({o.t(), wproj, a.proj.bias, pj.t()});
    ops::transpose2d({pj.t(), pt.t()});
    ops::gated_add({pt.t(), xt, {}});
    for (int64_t c = 0; c < C; ++c) std::memcpy(out.f32() + (c * T + t) * L, pt.f32() + c * L, size_t(L) * sizeof(float));
  }
  return out;
}

HostTensor resample(const VaeResample& r, const Tensor& x_in, Caches& caches) {
  const int64_t C = x_in.size(0);
  HostTensor x;  // the input of the spatial part
  if (r.mode == VaeResample::Upsample3d) {
    CacheSlot& slot = caches.take();
    if (slot.state == CacheSlot::Empty) {
      slot.state = CacheSlot::Rep;  // first chunk: the frame passes through
      x = frames(x_in, 0, x_in.size(1));
    } else {
      HostTensor keep;
      const int64_t T = x_in.size(1);
      if (T >= 2) keep = frames(x_in, T - 2, 2);
      else if (slot.state == CacheSlot::Frames) keep = cat_frames(frames(slot.frames.t(), slot.frames.t().size(1) - 1, 1).t(), x_in);
      else keep = cat_frames(HostTensor::zeros(DType::F32, {C, 1, x_in.size(2), x_in.size(3)}).t(), x_in);
      ops::Conv3dParams p;  // time_conv: CausalConv3d(C, 2C, (3,1,1), padding (1,0,0))
      p.x = x_in, p.w = r.time_conv.weight, p.b = r.time_conv.bias, p.pad_t = 2;
      if (slot.state == CacheSlot::Frames) {
        p.cache = slot.frames.t();
        p.pad_t = std::max<int64_t>(0, 2 - p.cache.size(1));
      }
      HostTensor y = new_video(2 * C, T, x_in.size(2), x_in.size(3));
      p.y = y.t();
      ops::conv3d(p);
      slot.frames = std::move(keep);
      slot.state = CacheSlot::Frames;
      // [2C, T] → [C, 2T]: channel s·C + c of frame t becomes channel c of frame 2t + s
      const int64_t HW = x_in.size(2) * x_in.size(3);
      x = new_video(C, 2 * T, x_in.size(2), x_in.size(3));
      for (int64_t s = 0; s < 2; ++s)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t t = 0; t < T; ++t)
            std::memcpy(x.f32() + (c * 2 * T + 2 * t + s) * HW, y.f32() + ((s * C + c) * T + t) * HW, size_t(HW) * sizeof(float));
    }
  }
  const Tensor& xs = x.t().empty() ? x_in : x.t();
  const int64_t T = xs.size(1), H = xs.size(2), W = xs.size(3);
  if (r.mode == VaeResample::Upsample2d || r.mode == VaeResample::Upsample3d) {
    // nearest ×2, then Conv2d(C, C/2, 3, padding 1) per frame
    HostTensor up = new_video(C, T, 2 * H, 2 * W);
    ops::upsample_nearest({xs, up.t(), 2, 2});
    HostTensor y = new_video(r.out_ch, T, 2 * H, 2 * W);
    ops::Conv2dParams p;
    p.x = up.t(), p.w = r.resample_1.weight, p.b = r.resample_1.bias, p.y = y.t();
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    ops::conv2d(p);
    return y;
  }
  // downsample: ZeroPad2d((0,1,0,1)) then Conv2d(C, C, 3, stride 2) per frame
  const int64_t Ho = ops::conv_out_size(H, 1, 3, 2, "height"), Wo = ops::conv_out_size(W, 1, 3, 2, "width");
  HostTensor d = new_video(r.out_ch, T, Ho, Wo);
  ops::Conv2dParams p;
  p.x = xs, p.w = r.resample_1.weight, p.b = r.resample_1.bias, p.y = d.t();
  p.stride_h = p.stride_w = 2, p.pad_bottom = p.pad_right = 1;
  ops::conv2d(p);
  if (r.mode == VaeResample::Downsample2d) return d;
  CacheSlot& slot = caches.take();
  if (slot.state == CacheSlot::Empty) {  // first chunk: no temporal conv, remember the frame
    slot.frames = frames(d.t(), T - 1, 1);
    slot.state = CacheSlot::Frames;
    return d;
  }
  // time_conv: CausalConv3d(C, C, (3,1,1), stride (2,1,1), no padding) over [last cached frame | d]
  ops::Conv3dParams q;
  q.x = d.t();
  HostTensor last = frames(slot.frames.t(), slot.frames.t().size(1) - 1, 1);
  q.cache = last.t();
  q.w = r.time_conv.weight, q.b = r.time_conv.bias, q.stride_t = 2;
  const int64_t To = ops::conv_out_size(T + 1, 0, 3, 2, "time");
  HostTensor y = new_video(r.out_ch, To, Ho, Wo);
  q.y = y.t();
  ops::conv3d(q);
  slot.frames = frames(d.t(), T - 1, 1);
  return y;
}

HostTensor run_layers(const std::vector<VaeLayer>& layers, HostTensor x, Caches& caches) {
  for (const VaeLayer& l : layers) {
    if (l.kind == VaeLayer::Residual) x = residual_block(l.res, x.t(), caches);
    else if (l.kind == VaeLayer::Attention) x = attention_block(l.attn, x.t());
    else x = resample(l.resample, x.t(), caches);
  }
  return x;
}

// Encoder3d / Decoder3d forward on one chunk.
HostTensor coder_forward(const VaeCoder& c, bool decoder, const Tensor& x, Caches& caches) {
  caches.new_chunk();
  HostTensor h = causal_conv(c.conv1, x, &caches.take());
  if (decoder) {
    h = run_layers(c.middle, std::move(h), caches);
    h = run_layers(c.stages, std::move(h), caches);
  } else {
    h = run_layers(c.stages, std::move(h), caches);
    h = run_layers(c.middle, std::move(h), caches);
  }
  h = norm_silu(c.head_0_gamma, h.t());
  return causal_conv(c.head_2, h.t(), &caches.take());
}

}  // namespace

std::unique_ptr<WanVae> WanVae::load(const std::string& path) {
  return load(std::make_shared<loader::Checkpoint>(loader::Checkpoint::open(path)));
}

std::unique_ptr<WanVae> WanVae::load(std::shared_ptr<loader::Checkpoint> ckpt) {
  const loader::Checkpoint& ck = *ckpt;
  Loader ld{ck, ck.files().empty() ? std::string("checkpoint") : ck.files().front()};
  if (!ck.has("decoder.conv1.weight") || !ck.has("conv2.weight"))
    ld.fail("not a Wan VAE checkpoint (no 'decoder.conv1.weight' / 'conv2.weight'); expected Wan2.1_VAE.pth key names");
  std::unique_ptr<WanVae> m(new WanVae());
  m->ckpt_ = ckpt;
  WanVaeConfig& cfg = m->cfg_;
  cfg.z_dim = ck.info("conv2.weight").shape.at(0);
  if (cfg.z_dim != 16) ld.fail("key 'conv2.weight' has " + std::to_string(cfg.z_dim) + " latent channels; the Wan2.1 latent statistics need 16");
  m->conv2_ = ld.conv("conv2", cfg.z_dim, {1, 1, 1});
  m->conv1_ = ld.conv("conv1", 2 * cfg.z_dim, {1, 1, 1});
  int64_t enc_out = 0, dec_out = 0;
  m->encoder_ = ld.coder("encoder", 3, false, enc_out, cfg.encoder_widths);
  if (enc_out != 2 * cfg.z_dim) ld.fail("key 'encoder.head.2.weight' must have " + std::to_string(2 * cfg.z_dim) + " output channels (μ ‖ log σ²)");
  m->decoder_ = ld.coder("decoder", cfg.z_dim, true, dec_out, cfg.decoder_widths);
  if (dec_out != 3) ld.fail("key 'decoder.head.2.weight' must have 3 output channels (RGB)");
  int64_t down = 0, down_t = 0, up = 0, up_t = 0;
  for (const auto& l : m->encoder_.stages)
    if (l.kind == VaeLayer::Resample) { ++down; down_t += l.resample.mode == VaeResample::Downsample3d; }
  for (const auto& l : m->decoder_.stages)
    if (l.kind == VaeLayer::Resample) { ++up; up_t += l.resample.mode == VaeResample::Upsample3d; }
  if (down != up || down_t != up_t)
    ld.fail("encoder and decoder resample differently (" + std::to_string(down) + "/" + std::to_string(down_t) + " vs " +
            std::to_string(up) + "/" + std::to_string(up_t) + " spatial/temporal stages)");
  cfg.spatial_factor = int64_t(1) << down;
  cfg.temporal_factor = int64_t(1) << down_t;
  return m;
}

bool WanVae::decode(const Tensor& latents, const ChunkFn& on_chunk) const {
  const int64_t Z = cfg_.z_dim;
  check(latents.ndim == 4 && latents.size(0) == Z, "vae decode", "latents must be [" + std::to_string(Z) + ", T, H, W], got " + latents.shape_str());
  check(latents.dtype == DType::F32 && latents.device == Device::CPU && latents.contiguous(), "vae decode", "latents must be contiguous F32 on the CPU");
  const int64_t T = latents.size(1), H = latents.size(2), W = latents.size(3), HW = H * W;
  Caches caches;
  for (int64_t t = 0; t < T; ++t) {
    // z / (1/std) + mean (fp32, as the reference), then conv2 (1×1×1) on this frame   // [Z, 1, H, W]
    HostTensor z = frames(latents, t, 1);
    for (int64_t c = 0; c < Z; ++c) {
      const float inv = 1.0f / kStd[c];
      for (int64_t i = 0; i < HW; ++i) z.f32()[c * HW + i] = z.f32()[c * HW + i] / inv + kMean[c];
    }
    HostTensor zc = causal_conv(conv2_, z.t(), nullptr);
    HostTensor out = coder_forward(decoder_, true, zc.t(), caches);
    if (on_chunk && !on_chunk(out.t(), int(t), int(T))) return false;
  }
  return true;
}

HostTensor collect_decoded_frames(int64_t F, int64_t H, int64_t W, const std::function<bool(const ChunkSink&)>& run_decode) {
  HostTensor video = HostTensor::empty(DType::F32, {3, F, H, W});
  int64_t f0 = 0;
  run_decode([&](const Tensor& fr, int, int) {
    const int64_t n = fr.size(1);
    for (int64_t c = 0; c < 3; ++c)
      std::memcpy(video.f32() + (c * F + f0) * H * W, fr.ptr<float>() + c * n * H * W, size_t(n * H * W) * sizeof(float));
    f0 += n;
    return true;
  });
  return video;
}

HostTensor WanVae::decode(const Tensor& latents) const {
  const int64_t H = latents.size(2) * cfg_.spatial_factor, W = latents.size(3) * cfg_.spatial_factor;
  return collect_decoded_frames(decoded_frames(latents.size(1)), H, W, [&](const ChunkSink& sink) { return decode(latents, sink); });
}

HostTensor WanVae::encode(const Tensor& video) const {
  const int64_t k = cfg_.temporal_factor, s = cfg_.spatial_factor, Z = cfg_.z_dim;
  check(video.ndim == 4 && video.size(0) == 3, "vae encode", "video must be [3, F, H, W], got " + video.shape_str());
  check(video.dtype == DType::F32 && video.device == Device::CPU && video.contiguous(), "vae encode", "video must be contiguous F32 on the CPU");
  const int64_t F = video.size(1), H = video.size(2), W = video.size(3);
  check((F - 1) % k == 0, "vae encode", "frame count " + std::to_string(F) + " must be 1 + " + std::to_string(k) + "·n");
  check(H % s == 0 && W % s == 0, "vae encode", "height and width (" + std::to_string(H) + "×" + std::to_string(W) + ") must be multiples of " + std::to_string(s));
  const int64_t T = 1 + (F - 1) / k, h = H / s, w = W / s, hw = h * w;
  // chunks: frame 0 alone, then k frames each; one latent frame per chunk
  Caches caches;
  HostTensor enc = HostTensor::empty(DType::F32, {2 * Z, T, h, w});
  for (int64_t i = 0; i < T; ++i) {
    HostTensor chunk = i == 0 ? frames(video, 0, 1) : frames(video, 1 + k * (i - 1), k);
    HostTensor out = coder_forward(encoder_, false, chunk.t(), caches);  // [2Z, 1, h, w]
    check(out.t().size(1) == 1, "vae encode", "encoder chunk produced " + std::to_string(out.t().size(1)) + " frames, expected 1");
    for (int64_t c = 0; c < 2 * Z; ++c) std::memcpy(enc.f32() + (c * T + i) * hw, out.f32() + c * hw, size_t(hw) * sizeof(float));
  }
  HostTensor mu_logvar = causal_conv(conv1_, enc.t(), nullptr);  // [2Z, T, h, w]
  HostTensor mu = HostTensor::empty(DType::F32, {Z, T, h, w});
  for (int64_t c = 0; c < Z; ++c) {
    const float inv = 1.0f / kStd[c];
    const float* src = mu_logvar.f32() + c * T * hw;
    float* dst = mu.f32() + c * T * hw;
    for (int64_t i = 0; i < T * hw; ++i) dst[i] = (src[i] - kMean[c]) * inv;
  }
  return mu;
}

}  // namespace tw::engine
