#include "models/wan_dit_cuda.h"

#ifdef TW_CUDA
#include <cmath>
#include <cstring>
#include <vector>

#include "tw/cuda/device.h"
#include "tw/ops.h"
#endif

namespace tw::engine {

#ifndef TW_CUDA

struct WanDitCuda::Impl {};
WanDitCuda::WanDitCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WanDitCuda::~WanDitCuda() = default;
bool WanDitCuda::int8_linears() const { return false; }
std::unique_ptr<WanDitCuda> WanDitCuda::create(const WanDit&, const Options&) {
  throw Error("this build of turbowan has no CUDA backend: rebuild with TURBOWAN_CUDA=ON (needs nvcc and cuBLAS)");
}
const WanDitConfig& WanDitCuda::config() const { throw Error("no CUDA backend"); }
void WanDitCuda::forward(const Tensor&, const Tensor&, const double*, const Tensor&, const AttentionOptions&, Tensor&) const {
  throw Error("no CUDA backend");
}
bool cuda_available() { return false; }

#else

using cuda::DeviceBuffer;

namespace {

// A host tensor of any float dtype (or int8 + block scales) → device buffer of `dt`.
DeviceBuffer upload(const Tensor& t, DType dt) {
  std::vector<float> host(size_t(t.numel()));
  to_f32(t, host.data());
  return cuda::to_device(host, dt);
}

struct DevLinear {
  DeviceBuffer w, b;     // bf16 weight, or empty when int8
  DeviceBuffer wq, ws;   // int8 weight [out, in] and fp32 scales [ceil(out/128), in/128]
  int64_t out = 0, in = 0;
};

// Block linears of TurboDiffusion's -quant files stay int8 on the device (W8A8 GEMM); with
// `int8` a bf16 weight is quantized on upload with the same 128×128 block quantizer.
DevLinear upload_linear(const DitLinear& l, bool int8 = false) {
  DevLinear d;
  d.out = l.out_features();
  d.in = (l.quantized() ? l.w_q : l.w).shape[1];
  if (int8 || l.quantized()) {
    Tensor q = l.w_q, s = l.w_scale;
    HostTensor qh, sh;
    if (!l.quantized()) {
      std::vector<float> w(size_t(d.out * d.in));
      to_f32(l.w, w.data());
      qh = HostTensor::empty(DType::I8, {d.out, d.in});
      sh = HostTensor::empty(DType::F32, {(d.out + 127) / 128, (d.in + 127) / 128});
      ops::quantize_int8_block128({Tensor::view(w.data(), DType::F32, {d.out, d.in}), qh.t(), sh.t()});
      q = qh.t();
      s = sh.t();
    }
    d.wq = DeviceBuffer(size_t(d.out * d.in));
    TW_CUDA_CHECK(cudaMemcpy(d.wq.get(), q.data, size_t(d.out * d.in), cudaMemcpyHostToDevice));
    d.ws = upload(s, DType::F32);
  } else {
    d.w = upload(l.w, DType::BF16);
  }
  if (!l.b.empty()) d.b = upload(l.b, DType::BF16);
  return d;
}

struct DevBlock {
  DevLinear sq, sk, sv, so, cq, ck, cv, co, f0, f2;
  DeviceBuffer norm_q, norm_k, cnorm_q, cnorm_k, norm3_w, norm3_b, proj_w, proj_b, modulation;  // F32 except proj (BF16)
  DeviceBuffer ctx_k, ctx_v;  // cached per context: [text_len, D] bf16
};

Tensor dev(const DeviceBuffer& b, DType dt, std::vector<int64_t> shape) { return b.view(dt, shape); }

}  // namespace

struct WanDitCuda::Impl {
  const WanDit* cpu = nullptr;
  WanDitConfig cfg;
  DevLinear patch, text0, text2, time0, time2, time_proj, head;
  DeviceBuffer head_modulation;  // F32 [2, D]
  std::vector<DevBlock> blocks;
  std::vector<float> cached_context;  // host copy of the context the K/V cache was built from
  bool int8 = false;

  // Activations, allocated once and reused by every step (grown when a longer sequence comes).
  struct Workspace {
    int64_t tokens = 0;
    DeviceBuffer x, a, q, k, v, o, y, f, mod, tmp, ho, hm;
  } ws;
  Workspace& workspace(int64_t L) {
    if (ws.tokens >= L) return ws;
    ws = Workspace{};
    const size_t LD = size_t(L * cfg.dim) * 2, D = size_t(cfg.dim);
    ws.x = DeviceBuffer(LD); ws.a = DeviceBuffer(LD); ws.q = DeviceBuffer(LD); ws.k = DeviceBuffer(LD);
    ws.v = DeviceBuffer(LD); ws.o = DeviceBuffer(LD); ws.y = DeviceBuffer(LD);
    ws.f = DeviceBuffer(size_t(L * cfg.ffn_dim) * 2);
    ws.mod = DeviceBuffer(6 * D * 4); ws.tmp = DeviceBuffer(6 * D * 2);
    ws.ho = DeviceBuffer(size_t(L * cfg.out_dim * 4) * 2); ws.hm = DeviceBuffer(2 * D * 4);
    ws.tokens = L;
    return ws;
  }

  void linear(const DevLinear& l, const Tensor& x, const Tensor& y) const {
    Tensor b = l.b.get() ? dev(l.b, DType::BF16, {l.out}) : Tensor{};
    if (l.wq.get()) {
      ops::linear_int8({x, dev(l.wq, DType::I8, {l.out, l.in}), dev(l.ws, DType::F32, {(l.out + 127) / 128, l.in / 128}), b, y});
    } else {
      ops::linear({x, dev(l.w, DType::BF16, {l.out, l.in}), b, y});
    }
  }

  // Text context → per-layer cross-attention K (normed) and V, computed once per prompt.
  void prepare_context(const Tensor& context) {
    const int64_t Lc = cfg.text_len, D = cfg.dim;
    const size_t n = size_t(Lc * cfg.text_dim);
    if (cached_context.size() == n && std::memcmp(cached_context.data(), context.data, n * 4) == 0) return;
    std::vector<float> host(context.ptr<float>(), context.ptr<float>() + n);
    DeviceBuffer in = cuda::to_device(host, DType::BF16), c1(size_t(Lc * D) * 2), c2(size_t(Lc * D) * 2);
    linear(text0, in.view(DType::BF16, {Lc, cfg.text_dim}), c1.view(DType::BF16, {Lc, D}));
    ops::activation({c1.view(DType::BF16, {Lc, D}), c1.view(DType::BF16, {Lc, D}), ops::Activation::GeluTanh});
    Tensor ctx = c2.view(DType::BF16, {Lc, D});
    linear(text2, c1.view(DType::BF16, {Lc, D}), ctx);
    for (DevBlock& b : blocks) {
      if (!b.ctx_k.get()) {
        b.ctx_k = DeviceBuffer(size_t(Lc * D) * 2);
        b.ctx_v = DeviceBuffer(size_t(Lc * D) * 2);
      }
      Tensor k = b.ctx_k.view(DType::BF16, {Lc, D}), v = b.ctx_v.view(DType::BF16, {Lc, D});
      linear(b.ck, ctx, k);
      ops::rms_norm({k, dev(b.cnorm_k, DType::F32, {D}), k, cfg.eps});
      linear(b.cv, ctx, v);
    }
    cached_context = std::move(host);
  }
};

WanDitCuda::WanDitCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WanDitCuda::~WanDitCuda() = default;
const WanDitConfig& WanDitCuda::config() const { return impl_->cfg; }

bool WanDitCuda::int8_linears() const { return impl_->int8; }

bool cuda_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::unique_ptr<WanDitCuda> WanDitCuda::create(const WanDit& cpu, const Options& opts) {
  if (!cuda_available()) throw Error("no CUDA device is visible (cudaGetDeviceCount); use the CPU backend");
  auto im = std::make_unique<Impl>();
  im->cpu = &cpu;
  im->cfg = cpu.cfg_;
  const int64_t D = im->cfg.dim;
  DitLinear patch;
  patch.w = cpu.patch_w_;
  patch.b = cpu.patch_b_;
  im->patch = upload_linear(patch);
  im->text0 = upload_linear(cpu.text0_);
  im->text2 = upload_linear(cpu.text2_);
  im->time0 = upload_linear(cpu.time0_);
  im->time2 = upload_linear(cpu.time2_);
  im->time_proj = upload_linear(cpu.time_proj_);
  im->head = upload_linear(cpu.head_);
  im->head_modulation = upload(cpu.head_modulation_, DType::F32);
  const bool q8 = cpu.quantized() || opts.quantize_bf16;
  im->int8 = q8;
  for (const DitBlock& b : cpu.blocks_) {
    DevBlock d;
    d.sq = upload_linear(b.self_q, q8); d.sk = upload_linear(b.self_k, q8); d.sv = upload_linear(b.self_v, q8);
    d.so = upload_linear(b.self_o, q8); d.cq = upload_linear(b.cross_q, q8); d.ck = upload_linear(b.cross_k, q8);
    d.cv = upload_linear(b.cross_v, q8); d.co = upload_linear(b.cross_o, q8);
    d.f0 = upload_linear(b.ffn0, q8); d.f2 = upload_linear(b.ffn2, q8);
    d.norm_q = upload(b.self_norm_q, DType::F32); d.norm_k = upload(b.self_norm_k, DType::F32);
    d.cnorm_q = upload(b.cross_norm_q, DType::F32); d.cnorm_k = upload(b.cross_norm_k, DType::F32);
    d.norm3_w = upload(b.norm3_w, DType::F32); d.norm3_b = upload(b.norm3_b, DType::F32);
    if (!b.proj_l_w.empty()) { d.proj_w = upload(b.proj_l_w, DType::BF16); d.proj_b = upload(b.proj_l_b, DType::BF16); }
    d.modulation = upload(b.modulation, DType::F32);
    im->blocks.push_back(std::move(d));
  }
  cuda::synchronize();
  return std::unique_ptr<WanDitCuda>(new WanDitCuda(std::move(im)));
}

void WanDitCuda::forward(const Tensor& x, const Tensor& cond, const double* timesteps, const Tensor& context,
                         const AttentionOptions& attn, Tensor& out) const {
  Impl& m = *impl_;  // the workspace and context cache are mutable state: one forward at a time
  const WanDitConfig& cfg = m.cfg;
  const char* op = "WanDitCuda.forward";
  const int64_t B = x.shape[0], C = x.shape[1], cc = cond.empty() ? 0 : cond.shape[1];
  check(x.ndim == 5 && C + cc == cfg.in_dim, op, "latents + condition channels must equal in_dim " + std::to_string(cfg.in_dim));
  check_shape(context, {B, cfg.text_len, cfg.text_dim}, op, "text embedding");
  const int64_t T = x.shape[2], H = x.shape[3], W = x.shape[4], Hp = H / 2, Wp = W / 2, L = T * Hp * Wp;
  const int64_t D = cfg.dim, F = cfg.ffn_dim, h = cfg.num_heads, d = cfg.head_dim(), Lc = cfg.text_len, Cin = cfg.in_dim;
  check_shape(out, {B, cfg.out_dim, T, H, W}, op, "output");

  Impl::Workspace& w = m.workspace(L);
  const Tensor X = w.x.view(DType::BF16, {L, D}), A = w.a.view(DType::BF16, {L, D}), Q = w.q.view(DType::BF16, {L, D}),
               K = w.k.view(DType::BF16, {L, D}), V = w.v.view(DType::BF16, {L, D}), O = w.o.view(DType::BF16, {L, D}),
               Y = w.y.view(DType::BF16, {L, D}), Fh = w.f.view(DType::BF16, {L, F});
  DeviceBuffer &mod = w.mod, &tmp = w.tmp, &ho = w.ho, &hm = w.hm;
  auto heads = [&](const Tensor& t, int64_t rows) { return t.reshape({rows, h, d}); };

  for (int64_t b = 0; b < B; ++b) {
    m.prepare_context(context.slice0(b, b + 1));
    // ---- time embedding on the GPU (bf16 linears) → per-block modulation m = table + e0 in fp32
    std::vector<float> sinus(size_t(cfg.freq_dim));
    dit_timestep_embedding(timesteps[b], cfg.freq_dim, sinus.data());
    DeviceBuffer s_dev = cuda::to_device(sinus, DType::BF16), t1(size_t(D) * 2), ebf(size_t(D) * 2), t2(size_t(D) * 2);  // tiny
    m.linear(m.time0, s_dev.view(DType::BF16, {1, cfg.freq_dim}), t1.view(DType::BF16, {1, D}));
    ops::activation({t1.view(DType::BF16, {1, D}), t1.view(DType::BF16, {1, D}), ops::Activation::Silu});
    m.linear(m.time2, t1.view(DType::BF16, {1, D}), ebf.view(DType::BF16, {1, D}));
    ops::activation({ebf.view(DType::BF16, {1, D}), t2.view(DType::BF16, {1, D}), ops::Activation::Silu});
    m.linear(m.time_proj, t2.view(DType::BF16, {1, D}), tmp.view(DType::BF16, {1, 6 * D}));

    // ---- patchify on the host (the latents are small), patch embedding on the GPU
    std::vector<float> patches(size_t(L * Cin * 4));
    dit_patchify(x, cond, b, patches.data());
    DeviceBuffer p_dev = cuda::to_device(patches, DType::BF16);
    m.linear(m.patch, p_dev.view(DType::BF16, {L, Cin * 4}), X);

    for (const DevBlock& blk : m.blocks) {
      TW_CUDA_CHECK(cudaMemcpyAsync(mod.get(), blk.modulation.get(), size_t(6 * D) * 4, cudaMemcpyDeviceToDevice, cuda::stream()));
      ops::gated_add({mod.view(DType::F32, {1, 6 * D}), tmp.view(DType::BF16, {1, 6 * D}), {}});
      auto mk = [&](int i) { return Tensor::view(mod.as<float>() + i * D, DType::F32, {D}, Device::CUDA); };
      // self-attention
      ops::layer_norm({X, {}, {}, A, cfg.eps});
      ops::modulate({A, mk(1), mk(0), A});
      m.linear(blk.sq, A, Q);
      m.linear(blk.sk, A, K);
      m.linear(blk.sv, A, V);
      ops::rms_norm({Q, dev(blk.norm_q, DType::F32, {D}), Q, cfg.eps});
      ops::rms_norm({K, dev(blk.norm_k, DType::F32, {D}), K, cfg.eps});
      ops::rope3d({heads(Q, L), T, Hp, Wp});
      ops::rope3d({heads(K, L), T, Hp, Wp});
      if (attn.kind == AttentionKind::Original) {
        ops::attention({heads(Q, L), heads(K, L), heads(V, L), heads(O, L)});
      } else {
        if (!blk.proj_w.get()) throw Error("attention sla/sagesla needs the SLA proj_l weights, which this checkpoint lacks");
        ops::SparseLinearAttentionParams sp;
        sp.q = heads(Q, L); sp.k = heads(K, L); sp.v = heads(V, L); sp.o = heads(O, L);
        sp.proj_w = dev(blk.proj_w, DType::BF16, {128, 128});
        sp.proj_b = dev(blk.proj_b, DType::BF16, {128});
        sp.topk = attn.topk;
        sp.quantized = attn.kind == AttentionKind::SageSla;
        sp.blk_q = attn.blk_q ? attn.blk_q : (sp.quantized ? 64 : 128);
        sp.blk_k = attn.blk_k ? attn.blk_k : (sp.quantized ? 128 : 64);
        sp.topk = effective_topk(L, sp.blk_k, sp.topk);
        ops::sparse_linear_attention(sp);
      }
      m.linear(blk.so, O, Y);
      ops::gated_add({X, Y, mk(2)});
      // cross-attention (K/V cached per prompt)
      ops::layer_norm({X, dev(blk.norm3_w, DType::F32, {D}), dev(blk.norm3_b, DType::F32, {D}), A, cfg.eps});
      m.linear(blk.cq, A, Q);
      ops::rms_norm({Q, dev(blk.cnorm_q, DType::F32, {D}), Q, cfg.eps});
      ops::attention({heads(Q, L), blk.ctx_k.view(DType::BF16, {Lc, h, d}), blk.ctx_v.view(DType::BF16, {Lc, h, d}), heads(O, L)});
      m.linear(blk.co, O, Y);
      ops::gated_add({X, Y, {}});
      // FFN
      ops::layer_norm({X, {}, {}, A, cfg.eps});
      ops::modulate({A, mk(4), mk(3), A});
      m.linear(blk.f0, A, Fh);
      ops::activation({Fh, Fh, ops::Activation::GeluTanh});
      m.linear(blk.f2, Fh, Y);
      ops::gated_add({X, Y, mk(5)});
    }

    // ---- head: LN(x)·(1 + hm1) + hm0, hm = head.modulation + e
    TW_CUDA_CHECK(cudaMemcpyAsync(hm.get(), m.head_modulation.get(), size_t(2 * D) * 4, cudaMemcpyDeviceToDevice, cuda::stream()));
    ops::gated_add({hm.view(DType::F32, {1, D}), ebf.view(DType::BF16, {1, D}), {}});
    ops::gated_add({Tensor::view(hm.as<float>() + D, DType::F32, {1, D}, Device::CUDA), ebf.view(DType::BF16, {1, D}), {}});
    ops::layer_norm({X, {}, {}, A, cfg.eps});
    ops::modulate({A, Tensor::view(hm.as<float>() + D, DType::F32, {D}, Device::CUDA), hm.view(DType::F32, {D}), A});
    const int64_t O4 = cfg.out_dim * 4;
    Tensor HO = ho.view(DType::BF16, {L, O4});
    m.linear(m.head, A, HO);
    std::vector<float> hout = cuda::to_host_f32(HO);

    dit_unpatchify(hout.data(), b, out);
  }
}

#endif

}  // namespace tw::engine
