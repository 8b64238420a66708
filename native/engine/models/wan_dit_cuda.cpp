#include "models/wan_dit_cuda.h"

#ifdef TW_CUDA
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <deque>
#include <vector>

#include "core/staged_upload.h"
#include "tw/cuda/device.h"
#include "tw/ops.h"
#endif

namespace tw::engine {

ExpertResidency parse_expert_residency(const std::string& s) {
  if (s == "auto") return ExpertResidency::Auto;
  if (s == "resident") return ExpertResidency::Resident;
  if (s == "parked") return ExpertResidency::Parked;
  throw Error("expertResidency must be auto, resident or parked, got '" + s + "'");
}

const char* expert_residency_name(ExpertResidency r) {
  return r == ExpertResidency::Resident ? "resident" : r == ExpertResidency::Parked ? "parked" : "auto";
}

#ifndef TW_CUDA

struct WanDitCuda::Impl {};
WanDitCuda::WanDitCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WanDitCuda::~WanDitCuda() = default;
bool WanDitCuda::int8_linears() const { return false; }
bool WanDitCuda::parked() const { return false; }
size_t WanDitCuda::weight_bytes() const { return 0; }
WanDitCuda::SwapStats WanDitCuda::swap_stats() const { return {}; }
size_t WanDitCuda::default_headroom(const WanDitConfig&) { return 0; }
void WanDitCuda::plan_forwards(const std::vector<const DitNetwork*>&) {}
std::unique_ptr<WanDitCuda> WanDitCuda::create(const WanDit&, const Options&) {
  throw Error("this build of turbowan has no CUDA backend: rebuild with TURBOWAN_CUDA=ON (needs nvcc and cuBLAS)");
}
WanDitCuda::Pair WanDitCuda::create_pair(const WanDit&, const WanDit&, const PairOptions&) {
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

// Byte offsets of weights inside one allocation, 256-byte aligned as cudaMalloc aligns buffers.
struct Layout {
  size_t bytes = 0;
  int64_t add(size_t n) {
    const size_t off = bytes;
    bytes += (n + 255) & ~size_t(255);
    return int64_t(off);
  }
};

// A Linear's device weights as offsets from its allocation's base (−1: absent).
struct DevLinear {
  int64_t w = -1, b = -1;    // bf16 weight [out, in] and bias
  int64_t wq = -1, ws = -1;  // int8 weight [out, in] and fp32 scales [ceil(out/128), ceil(in/128)]
  int64_t out = 0, in = 0;
};

// Block linears of TurboDiffusion's -quant files stay int8 on the device (W8A8 GEMM); with
// `int8` a bf16 weight is quantized on upload with the same 128×128 block quantizer.
DevLinear plan_linear(Layout& lay, const DitLinear& l, bool int8 = false) {
  DevLinear d;
  d.out = l.out_features();
  d.in = (l.quantized() ? l.w_q : l.w).shape[1];
  if (int8 || l.quantized()) {
    d.wq = lay.add(size_t(d.out * d.in));
    d.ws = lay.add(size_t(((d.out + 127) / 128) * ((d.in + 127) / 128)) * 4);
  } else {
    d.w = lay.add(size_t(d.out * d.in) * 2);
  }
  if (!l.b.empty()) d.b = lay.add(size_t(d.out) * 2);
  return d;
}

void* at(uint8_t* base, int64_t off) { return base && off >= 0 ? base + off : nullptr; }

// Queues a Linear for `dev` and/or `host` (same layout at both).
void put_linear(StagedUploader& up, const DitLinear& l, const DevLinear& d, uint8_t* dev, uint8_t* host) {
  if (d.wq >= 0) {
    if (l.quantized()) {
      up.add(l.w_q, DType::I8, at(dev, d.wq), at(host, d.wq));
      up.add(l.w_scale, DType::F32, at(dev, d.ws), at(host, d.ws));
    } else {
      std::vector<float> w(size_t(d.out * d.in));
      to_f32(l.w, w.data());
      auto qh = std::make_shared<HostTensor>(HostTensor::empty(DType::I8, {d.out, d.in}));
      auto sh = std::make_shared<HostTensor>(HostTensor::empty(DType::F32, {(d.out + 127) / 128, (d.in + 127) / 128}));
      ops::quantize_int8_block128({Tensor::view(w.data(), DType::F32, {d.out, d.in}), qh->t(), sh->t()});
      up.add(qh->t(), DType::I8, at(dev, d.wq), at(host, d.wq), qh);
      up.add(sh->t(), DType::F32, at(dev, d.ws), at(host, d.ws), sh);
    }
  } else {
    up.add(l.w, DType::BF16, at(dev, d.w), at(host, d.w));
  }
  if (d.b >= 0) up.add(l.b, DType::BF16, at(dev, d.b), at(host, d.b));
}

// One block's weights as offsets into its slot; every block of a model has the same layout.
struct DevBlock {
  DevLinear sq, sk, sv, so, cq, ck, cv, co, f0, f2;
  int64_t norm_q = -1, norm_k = -1, cnorm_q = -1, cnorm_k = -1, norm3_w = -1, norm3_b = -1;  // F32 [D]
  int64_t proj_w = -1, proj_b = -1;  // BF16 SLA proj_l [128,128], [128] (absent in official files)
  int64_t modulation = -1;           // F32 [6, D]
};

DevBlock plan_block(Layout& lay, const DitBlock& b, int64_t D, bool q8) {
  DevBlock d;
  d.sq = plan_linear(lay, b.self_q, q8); d.sk = plan_linear(lay, b.self_k, q8); d.sv = plan_linear(lay, b.self_v, q8);
  d.so = plan_linear(lay, b.self_o, q8); d.cq = plan_linear(lay, b.cross_q, q8); d.ck = plan_linear(lay, b.cross_k, q8);
  d.cv = plan_linear(lay, b.cross_v, q8); d.co = plan_linear(lay, b.cross_o, q8);
  d.f0 = plan_linear(lay, b.ffn0, q8); d.f2 = plan_linear(lay, b.ffn2, q8);
  const size_t vec = size_t(D) * 4;
  d.norm_q = lay.add(vec); d.norm_k = lay.add(vec); d.cnorm_q = lay.add(vec); d.cnorm_k = lay.add(vec);
  d.norm3_w = lay.add(vec); d.norm3_b = lay.add(vec);
  if (!b.proj_l_w.empty()) { d.proj_w = lay.add(128 * 128 * 2); d.proj_b = lay.add(128 * 2); }
  d.modulation = lay.add(6 * vec);
  return d;
}

void put_block(StagedUploader& up, const DitBlock& b, const DevBlock& d, uint8_t* dev, uint8_t* host) {
  put_linear(up, b.self_q, d.sq, dev, host); put_linear(up, b.self_k, d.sk, dev, host);
  put_linear(up, b.self_v, d.sv, dev, host); put_linear(up, b.self_o, d.so, dev, host);
  put_linear(up, b.cross_q, d.cq, dev, host); put_linear(up, b.cross_k, d.ck, dev, host);
  put_linear(up, b.cross_v, d.cv, dev, host); put_linear(up, b.cross_o, d.co, dev, host);
  put_linear(up, b.ffn0, d.f0, dev, host); put_linear(up, b.ffn2, d.f2, dev, host);
  auto f32 = [&](const Tensor& t, int64_t off) { up.add(t, DType::F32, at(dev, off), at(host, off)); };
  f32(b.self_norm_q, d.norm_q); f32(b.self_norm_k, d.norm_k); f32(b.cross_norm_q, d.cnorm_q); f32(b.cross_norm_k, d.cnorm_k);
  f32(b.norm3_w, d.norm3_w); f32(b.norm3_b, d.norm3_b); f32(b.modulation, d.modulation);
  if (d.proj_w >= 0) {
    up.add(b.proj_l_w, DType::BF16, at(dev, d.proj_w), at(host, d.proj_w));
    up.add(b.proj_l_b, DType::BF16, at(dev, d.proj_b), at(host, d.proj_b));
  }
}

// The non-block weights (embeddings, time MLP, head): small, always resident per expert.
struct DevGlobals {
  DevLinear patch, text0, text2, time0, time2, time_proj, head;
  int64_t head_modulation = -1;  // F32 [2, D]
};

// The device block slots of one expert, or of a parked pair (shared). The host tracks, in issue
// order, whose block each slot holds; events order the in-place copies against the compute.
struct Slots {
  DeviceBuffer arena;  // n × block_bytes
  size_t block_bytes = 0;
  int64_t n = 0;
  bool shared = false;
  std::vector<const WanDitCuda::Impl*> owner;
  std::vector<cudaEvent_t> ready;  // copy into slot i done (compute waits on it)
  std::vector<cudaEvent_t> freed;  // last compute reading slot i done (the copy waits on it)
  cudaStream_t copy = nullptr;
  std::deque<const WanDitCuda::Impl*> plan;  // expected order of the coming forwards
  const WanDitCuda::Impl* after_plan = nullptr;

  Slots(int64_t blocks, size_t bb, bool is_shared) : arena(size_t(blocks) * bb), block_bytes(bb), n(blocks), shared(is_shared) {
    owner.assign(size_t(n), nullptr);
    if (!shared) return;
    TW_CUDA_CHECK(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking));  // never serialized with compute
    for (int64_t i = 0; i < n; ++i) {
      cudaEvent_t a, b;
      TW_CUDA_CHECK(cudaEventCreateWithFlags(&a, cudaEventDisableTiming));
      TW_CUDA_CHECK(cudaEventCreateWithFlags(&b, cudaEventDisableTiming));
      ready.push_back(a);
      freed.push_back(b);
    }
  }
  ~Slots() {
    if (copy) cudaStreamSynchronize(copy);
    for (cudaEvent_t e : ready) cudaEventDestroy(e);
    for (cudaEvent_t e : freed) cudaEventDestroy(e);
    if (copy) cudaStreamDestroy(copy);
  }
  uint8_t* block(int64_t i) const { return arena.as<uint8_t>() + size_t(i) * block_bytes; }
  // Refill slot i with `who`'s block i once everything already queued on the compute stream
  // (which includes the last reader of the slot) is done.
  void copy_in(int64_t i, const WanDitCuda::Impl* who, const uint8_t* src) {
    TW_CUDA_CHECK(cudaEventRecord(freed[size_t(i)], cuda::stream()));
    TW_CUDA_CHECK(cudaStreamWaitEvent(copy, freed[size_t(i)], 0));
    TW_CUDA_CHECK(cudaMemcpyAsync(block(i), src, block_bytes, cudaMemcpyHostToDevice, copy));
    TW_CUDA_CHECK(cudaEventRecord(ready[size_t(i)], copy));
    owner[size_t(i)] = who;
  }
};

Tensor dev(const uint8_t* base, int64_t off, DType dt, std::vector<int64_t> shape) {
  return Tensor::view(const_cast<uint8_t*>(base) + off, dt, shape, Device::CUDA);
}

}  // namespace

struct WanDitCuda::Impl {
  WanDitConfig cfg;
  bool int8 = false;
  DeviceBuffer globals;  // DevGlobals' weights
  DevGlobals g;
  DevBlock blk;  // layout of every block inside its slot
  size_t block_bytes = 0;
  std::shared_ptr<Slots> slots;
  std::vector<PinnedBuffer> image;  // parked pairs: this expert's blocks in pinned host memory, slot layout
  SwapStats stats;

  // Per-prompt cache: the embedded text context and, per block, its cross-attention K (normed) and V.
  std::vector<float> cached_context;  // host copy of the context the cache was built from
  DeviceBuffer ctx_in, ctx_c1, ctx_c2;
  std::vector<DeviceBuffer> ctx_k, ctx_v;
  std::vector<char> kv_stale;

  // Activations, allocated once and reused by every step (grown when a longer sequence comes).
  struct Workspace {
    int64_t tokens = 0;
    DeviceBuffer x, a, q, k, v, o, y, f, mod, tmp, ho, hm, sin, t1, ebf, t2, p;
  } ws;

  ~Impl() {
    if (!slots) return;
    if (slots->copy) cudaStreamSynchronize(slots->copy);  // a copy may still read `image`
    for (auto& o : slots->owner) if (o == this) o = nullptr;
    for (auto& o : slots->plan) if (o == this) o = nullptr;
    if (slots->after_plan == this) slots->after_plan = nullptr;
  }

  Workspace& workspace(int64_t L) {
    if (ws.tokens >= L) return ws;
    ws = Workspace{};
    const size_t LD = size_t(L * cfg.dim) * 2, D = size_t(cfg.dim);
    ws.x = DeviceBuffer(LD); ws.a = DeviceBuffer(LD); ws.q = DeviceBuffer(LD); ws.k = DeviceBuffer(LD);
    ws.v = DeviceBuffer(LD); ws.o = DeviceBuffer(LD); ws.y = DeviceBuffer(LD);
    ws.f = DeviceBuffer(size_t(L * cfg.ffn_dim) * 2);
    ws.mod = DeviceBuffer(6 * D * 4); ws.tmp = DeviceBuffer(6 * D * 2);
    ws.ho = DeviceBuffer(size_t(L * cfg.out_dim * 4) * 2); ws.hm = DeviceBuffer(2 * D * 4);
    // Small per-forward inputs live here too: freeing a buffer (cudaFree) would wait for the
    // whole device, including a parked pair's swap in flight.
    ws.sin = DeviceBuffer(size_t(cfg.freq_dim) * 2);
    ws.t1 = DeviceBuffer(D * 2); ws.ebf = DeviceBuffer(D * 2); ws.t2 = DeviceBuffer(D * 2);
    ws.p = DeviceBuffer(size_t(L * cfg.in_dim * 4) * 2);
    ws.tokens = L;
    return ws;
  }

  void linear(const DevLinear& l, const uint8_t* base, const Tensor& x, const Tensor& y) const {
    Tensor b = l.b >= 0 ? dev(base, l.b, DType::BF16, {l.out}) : Tensor{};
    if (l.wq >= 0) {
      ops::linear_int8({x, dev(base, l.wq, DType::I8, {l.out, l.in}), dev(base, l.ws, DType::F32, {(l.out + 127) / 128, l.in / 128}), b, y});
    } else {
      ops::linear({x, dev(base, l.w, DType::BF16, {l.out, l.in}), b, y});
    }
  }

  // Text context → its embedding (once per prompt); the blocks' K/V follow lazily in block_kv, so
  // a parked expert computes block i's K/V only once block i is in its slot.
  void prepare_context(const Tensor& context) {
    const int64_t Lc = cfg.text_len, D = cfg.dim;
    const size_t n = size_t(Lc * cfg.text_dim);
    if (cached_context.size() == n && std::memcmp(cached_context.data(), context.data, n * 4) == 0) return;
    std::vector<float> host(context.ptr<float>(), context.ptr<float>() + n);
    if (!ctx_in.get()) {
      ctx_in = DeviceBuffer(n * 2);
      ctx_c1 = DeviceBuffer(size_t(Lc * D) * 2);
      ctx_c2 = DeviceBuffer(size_t(Lc * D) * 2);
    }
    cuda::upload_as(host.data(), int64_t(n), DType::BF16, ctx_in.get());
    const uint8_t* gb = globals.as<uint8_t>();
    linear(g.text0, gb, ctx_in.view(DType::BF16, {Lc, cfg.text_dim}), ctx_c1.view(DType::BF16, {Lc, D}));
    ops::activation({ctx_c1.view(DType::BF16, {Lc, D}), ctx_c1.view(DType::BF16, {Lc, D}), ops::Activation::GeluTanh});
    linear(g.text2, gb, ctx_c1.view(DType::BF16, {Lc, D}), ctx_c2.view(DType::BF16, {Lc, D}));
    kv_stale.assign(size_t(cfg.num_layers), 1);
    cached_context = std::move(host);
  }

  void block_kv(int64_t i, const uint8_t* base) {
    const int64_t Lc = cfg.text_len, D = cfg.dim;
    DeviceBuffer &kb = ctx_k[size_t(i)], &vb = ctx_v[size_t(i)];
    if (!kb.get()) {
      kb = DeviceBuffer(size_t(Lc * D) * 2);
      vb = DeviceBuffer(size_t(Lc * D) * 2);
    }
    const Tensor ctx = ctx_c2.view(DType::BF16, {Lc, D});
    Tensor k = kb.view(DType::BF16, {Lc, D}), v = vb.view(DType::BF16, {Lc, D});
    linear(blk.ck, base, ctx, k);
    ops::rms_norm({k, dev(base, blk.cnorm_k, DType::F32, {D}), k, cfg.eps});
    linear(blk.cv, base, ctx, v);
    kv_stale[size_t(i)] = 0;
  }

  // Shapes → layouts (no device memory yet).
  static std::unique_ptr<Impl> plan(const WanDit& cpu, const Options& opts, Layout& glob) {
    auto im = std::make_unique<Impl>();
    im->cfg = cpu.cfg_;
    im->int8 = cpu.quantized() || opts.quantize_bf16;
    DitLinear patch;
    patch.w = cpu.patch_w_;
    patch.b = cpu.patch_b_;
    DevGlobals& g = im->g;
    g.patch = plan_linear(glob, patch);
    g.text0 = plan_linear(glob, cpu.text0_);
    g.text2 = plan_linear(glob, cpu.text2_);
    g.time0 = plan_linear(glob, cpu.time0_);
    g.time2 = plan_linear(glob, cpu.time2_);
    g.time_proj = plan_linear(glob, cpu.time_proj_);
    g.head = plan_linear(glob, cpu.head_);
    g.head_modulation = glob.add(size_t(2 * im->cfg.dim) * 4);
    Layout bl;
    im->blk = plan_block(bl, cpu.blocks_.at(0), im->cfg.dim, im->int8);
    im->block_bytes = bl.bytes;
    for (const DitBlock& b : cpu.blocks_) {  // one layout for all: same quantization and SLA weights
      Layout l2;
      plan_block(l2, b, im->cfg.dim, im->int8);
      if (l2.bytes != bl.bytes) throw Error("WanDitCuda: the DiT's blocks differ in their stored weights (quantized or SLA proj_l in some blocks only)");
    }
    im->ctx_k.resize(size_t(im->cfg.num_layers));
    im->ctx_v.resize(size_t(im->cfg.num_layers));
    return im;
  }

  // Queues the non-block weights (device) and every block for `slot_dev(i)` and/or `image`.
  void upload(StagedUploader& up, const WanDit& cpu, Layout& glob, bool blocks_to_device) {
    globals = DeviceBuffer(glob.bytes);
    uint8_t* gb = globals.as<uint8_t>();
    up.set_arena(gb, glob.bytes);
    DitLinear patch;
    patch.w = cpu.patch_w_;
    patch.b = cpu.patch_b_;
    put_linear(up, patch, g.patch, gb, nullptr);
    put_linear(up, cpu.text0_, g.text0, gb, nullptr);
    put_linear(up, cpu.text2_, g.text2, gb, nullptr);
    put_linear(up, cpu.time0_, g.time0, gb, nullptr);
    put_linear(up, cpu.time2_, g.time2, gb, nullptr);
    put_linear(up, cpu.time_proj_, g.time_proj, gb, nullptr);
    put_linear(up, cpu.head_, g.head, gb, nullptr);
    up.add(cpu.head_modulation_, DType::F32, gb + g.head_modulation);
    if (blocks_to_device) up.set_arena(slots->arena.get(), slots->arena.bytes());
    for (size_t i = 0; i < cpu.blocks_.size(); ++i)
      put_block(up, cpu.blocks_[i], blk, blocks_to_device ? slots->block(int64_t(i)) : nullptr,
                image.empty() ? nullptr : image[i].get());
  }
};

WanDitCuda::WanDitCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WanDitCuda::~WanDitCuda() = default;
const WanDitConfig& WanDitCuda::config() const { return impl_->cfg; }
bool WanDitCuda::int8_linears() const { return impl_->int8; }
bool WanDitCuda::parked() const { return impl_->slots && impl_->slots->shared; }
size_t WanDitCuda::weight_bytes() const { return impl_->globals.bytes() + size_t(impl_->cfg.num_layers) * impl_->block_bytes; }
WanDitCuda::SwapStats WanDitCuda::swap_stats() const { return impl_->stats; }

bool cuda_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

size_t WanDitCuda::default_headroom(const WanDitConfig& c) {
  const size_t L = 21 * 45 * 80;  // 1280×720, 81 frames
  const size_t act = L * size_t(7 * c.dim + c.ffn_dim + 8 * c.out_dim) * 2;
  const size_t kv = 2 * size_t(c.num_layers) * 2 * size_t(c.text_len * c.dim) * 2;
  return act + kv + (size_t(10) << 30);
}

std::unique_ptr<WanDitCuda> WanDitCuda::create(const WanDit& cpu, const Options& opts) {
  if (!cuda_available()) throw Error("no CUDA device is visible (cudaGetDeviceCount); use the CPU backend");
  Layout glob;
  auto im = Impl::plan(cpu, opts, glob);
  im->slots = std::make_shared<Slots>(im->cfg.num_layers, im->block_bytes, false);
  im->slots->owner.assign(size_t(im->cfg.num_layers), im.get());
  StagedUploader up;
  im->upload(up, cpu, glob, true);
  up.finish();
  cuda::synchronize();
  return std::unique_ptr<WanDitCuda>(new WanDitCuda(std::move(im)));
}

// Pinned host images of both experts, one buffer per block (PinnedBuffer page-locks in parallel).
static void pin_blocks(WanDitCuda::Impl& h, WanDitCuda::Impl& l) {
  for (WanDitCuda::Impl* e : {&h, &l}) {
    e->image.clear();
    for (int64_t i = 0; i < e->cfg.num_layers; ++i) e->image.emplace_back(e->block_bytes);
  }
}

WanDitCuda::Pair WanDitCuda::create_pair(const WanDit& high, const WanDit& low, const PairOptions& o) {
  if (!cuda_available()) throw Error("no CUDA device is visible (cudaGetDeviceCount); use the CPU backend");
  Layout gh, gl;
  auto h = Impl::plan(high, o.model, gh), l = Impl::plan(low, o.model, gl);
  const size_t blocks_h = size_t(h->cfg.num_layers) * h->block_bytes, blocks_l = size_t(l->cfg.num_layers) * l->block_bytes;
  const bool same = h->cfg.num_layers == l->cfg.num_layers && h->block_bytes == l->block_bytes && gh.bytes == gl.bytes;
  size_t free_b = 0, total_b = 0;
  TW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const size_t headroom = o.headroom_bytes ? o.headroom_bytes : default_headroom(h->cfg);
  const size_t both = gh.bytes + gl.bytes + blocks_h + blocks_l;
  auto gib = [](size_t b) { return std::to_string(double(b) / double(size_t(1) << 30)).substr(0, 5) + " GiB"; };
  Pair p;
  if (o.residency == ExpertResidency::Parked && !same)
    throw Error("expertResidency 'parked' needs two experts of identical shapes (Wan2.2 A14B's have them); these differ");
  p.parked = o.residency == ExpertResidency::Parked || (o.residency == ExpertResidency::Auto && same && both + headroom > free_b);
  p.reason = std::string(expert_residency_name(o.residency)) + ": both experts need " + gib(both) + ", " + gib(free_b) +
             " free, headroom " + gib(headroom) + " → " + (p.parked ? "parked (one set of device blocks, the idle expert in pinned host memory)" : "both resident");
  if (!p.parked) {
    p.high = create(high, o.model);
    p.low = create(low, o.model);
    return p;
  }
  auto slots = std::make_shared<Slots>(h->cfg.num_layers, h->block_bytes, true);
  h->slots = l->slots = slots;
  const auto tp = std::chrono::steady_clock::now();
  pin_blocks(*h, *l);
  p.pin_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tp).count();
  StagedUploader up;
  h->upload(up, high, gh, true);   // blocks → high's pinned image → the slots
  l->upload(up, low, gl, false);   // blocks → low's pinned image only
  up.finish();
  slots->owner.assign(size_t(slots->n), h.get());
  cuda::synchronize();
  p.high = std::unique_ptr<WanDitCuda>(new WanDitCuda(std::move(h)));
  p.low = std::unique_ptr<WanDitCuda>(new WanDitCuda(std::move(l)));
  return p;
}

void WanDitCuda::plan_forwards(const std::vector<const DitNetwork*>& order) {
  if (order.empty()) return;
  std::deque<const Impl*> q;
  Slots* s = nullptr;
  for (const DitNetwork* n : order) {
    auto* w = dynamic_cast<const WanDitCuda*>(n);
    if (!w || !w->parked() || (s && w->impl_->slots.get() != s)) return;
    s = w->impl_->slots.get();
    q.push_back(w->impl_.get());
  }
  s->after_plan = q.front();
  s->plan = std::move(q);
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
  const uint8_t* gb = m.globals.as<uint8_t>();

  // A parked pair: who should hold the slots after this forward (the next expert of the plan).
  Slots& S = *m.slots;
  const Impl* next = nullptr;
  if (S.shared) {
    if (!S.plan.empty() && S.plan.front() == &m) {
      S.plan.pop_front();
      next = S.plan.empty() ? S.after_plan : S.plan.front();
    } else {
      S.plan.clear();
      S.after_plan = nullptr;
    }
    if (next == &m) next = nullptr;
  }

  for (int64_t b = 0; b < B; ++b) {
    m.prepare_context(context.slice0(b, b + 1));
    // ---- time embedding on the GPU (bf16 linears) → per-block modulation m = table + e0 in fp32
    std::vector<float> sinus(size_t(cfg.freq_dim));
    dit_timestep_embedding(timesteps[b], cfg.freq_dim, sinus.data());
    cuda::upload_as(sinus.data(), cfg.freq_dim, DType::BF16, w.sin.get());
    const Tensor t1 = w.t1.view(DType::BF16, {1, D}), ebf = w.ebf.view(DType::BF16, {1, D}), t2 = w.t2.view(DType::BF16, {1, D});
    m.linear(m.g.time0, gb, w.sin.view(DType::BF16, {1, cfg.freq_dim}), t1);
    ops::activation({t1, t1, ops::Activation::Silu});
    m.linear(m.g.time2, gb, t1, ebf);
    ops::activation({ebf, t2, ops::Activation::Silu});
    m.linear(m.g.time_proj, gb, t2, tmp.view(DType::BF16, {1, 6 * D}));

    // ---- patchify on the host (the latents are small), patch embedding on the GPU
    std::vector<float> patches(size_t(L * Cin * 4));
    dit_patchify(x, cond, b, patches.data());
    cuda::upload_as(patches.data(), L * Cin * 4, DType::BF16, w.p.get());
    m.linear(m.g.patch, gb, w.p.view(DType::BF16, {L, Cin * 4}), X);
    // Blocks not in the slots (a forward outside the plan) are fetched a few blocks ahead of the
    // compute, each block waiting only for its own copy; queued after this forward's small
    // uploads, which share the in-order H2D copy engine (queued before them, a 14B forward waited
    // for the whole 28.6 GB swap: +510 ms). Lookahead 1–40 measured equal, 0 serializes.
    const char* ahead_env = std::getenv("TW_FETCH_AHEAD");  // bench knob: blocks queued ahead
    const int64_t kAhead = ahead_env ? std::max<int64_t>(0, std::atoll(ahead_env)) : 2;
    auto fetch = [&](int64_t j) {
      if (S.shared && j < S.n && S.owner[size_t(j)] != &m) {
        S.copy_in(j, &m, m.image[size_t(j)].get());
        ++m.stats.demand_blocks;
      }
    };

    for (int64_t i = 0; i < cfg.num_layers; ++i) {
      const uint8_t* base = S.block(i);
      const DevBlock& blk = m.blk;
      for (int64_t j = i; j <= i + kAhead; ++j) fetch(j);
      if (S.shared) TW_CUDA_CHECK(cudaStreamWaitEvent(cuda::stream(), S.ready[size_t(i)], 0));
      if (m.kv_stale[size_t(i)]) m.block_kv(i, base);
      TW_CUDA_CHECK(cudaMemcpyAsync(mod.get(), base + blk.modulation, size_t(6 * D) * 4, cudaMemcpyDeviceToDevice, cuda::stream()));
      ops::gated_add({mod.view(DType::F32, {1, 6 * D}), tmp.view(DType::BF16, {1, 6 * D}), {}});
      auto mk = [&](int j) { return Tensor::view(mod.as<float>() + j * D, DType::F32, {D}, Device::CUDA); };
      // self-attention
      ops::layer_norm({X, {}, {}, A, cfg.eps});
      ops::modulate({A, mk(1), mk(0), A});
      m.linear(blk.sq, base, A, Q);
      m.linear(blk.sk, base, A, K);
      m.linear(blk.sv, base, A, V);
      ops::rms_norm({Q, dev(base, blk.norm_q, DType::F32, {D}), Q, cfg.eps});
      ops::rms_norm({K, dev(base, blk.norm_k, DType::F32, {D}), K, cfg.eps});
      ops::rope3d({heads(Q, L), T, Hp, Wp});
      ops::rope3d({heads(K, L), T, Hp, Wp});
      if (attn.kind == AttentionKind::Original) {
        ops::attention({heads(Q, L), heads(K, L), heads(V, L), heads(O, L)});
      } else {
        if (blk.proj_w < 0) throw Error("attention sla/sagesla needs the SLA proj_l weights, which this checkpoint lacks");
        ops::SparseLinearAttentionParams sp;
        sp.q = heads(Q, L); sp.k = heads(K, L); sp.v = heads(V, L); sp.o = heads(O, L);
        sp.proj_w = dev(base, blk.proj_w, DType::BF16, {128, 128});
        sp.proj_b = dev(base, blk.proj_b, DType::BF16, {128});
        sp.topk = attn.topk;
        sp.quantized = attn.kind == AttentionKind::SageSla;
        sp.blk_q = attn.blk_q ? attn.blk_q : (sp.quantized ? 64 : 128);
        sp.blk_k = attn.blk_k ? attn.blk_k : (sp.quantized ? 128 : 64);
        sp.topk = effective_topk(L, sp.blk_k, sp.topk);
        ops::sparse_linear_attention(sp);
      }
      m.linear(blk.so, base, O, Y);
      ops::gated_add({X, Y, mk(2)});
      // cross-attention (K/V cached per prompt)
      ops::layer_norm({X, dev(base, blk.norm3_w, DType::F32, {D}), dev(base, blk.norm3_b, DType::F32, {D}), A, cfg.eps});
      m.linear(blk.cq, base, A, Q);
      ops::rms_norm({Q, dev(base, blk.cnorm_q, DType::F32, {D}), Q, cfg.eps});
      ops::attention({heads(Q, L), m.ctx_k[size_t(i)].view(DType::BF16, {Lc, h, d}), m.ctx_v[size_t(i)].view(DType::BF16, {Lc, h, d}), heads(O, L)});
      m.linear(blk.co, base, O, Y);
      ops::gated_add({X, Y, {}});
      // FFN
      ops::layer_norm({X, {}, {}, A, cfg.eps});
      ops::modulate({A, mk(4), mk(3), A});
      m.linear(blk.f0, base, A, Fh);
      ops::activation({Fh, Fh, ops::Activation::GeluTanh});
      m.linear(blk.f2, base, Fh, Y);
      ops::gated_add({X, Y, mk(5)});
      // The last forward of this expert in the plan: block i is done with its slot once the ops
      // just queued finish, so the next expert's block i is copied in behind them.
      if (next && b == B - 1) {
        S.copy_in(i, next, next->image[size_t(i)].get());
        ++const_cast<Impl*>(next)->stats.prefetched_blocks;
      }
    }

    // ---- head: LN(x)·(1 + hm1) + hm0, hm = head.modulation + e
    TW_CUDA_CHECK(cudaMemcpyAsync(hm.get(), gb + m.g.head_modulation, size_t(2 * D) * 4, cudaMemcpyDeviceToDevice, cuda::stream()));
    ops::gated_add({hm.view(DType::F32, {1, D}), ebf, {}});
    ops::gated_add({Tensor::view(hm.as<float>() + D, DType::F32, {1, D}, Device::CUDA), ebf, {}});
    ops::layer_norm({X, {}, {}, A, cfg.eps});
    ops::modulate({A, Tensor::view(hm.as<float>() + D, DType::F32, {D}, Device::CUDA), hm.view(DType::F32, {D}), A});
    const int64_t O4 = cfg.out_dim * 4;
    Tensor HO = ho.view(DType::BF16, {L, O4});
    m.linear(m.g.head, gb, A, HO);
    std::vector<float> hout = cuda::to_host_f32(HO);

    dit_unpatchify(hout.data(), b, out);
  }
}

#endif

}  // namespace tw::engine
