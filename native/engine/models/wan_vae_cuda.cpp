// Wan2.1 VAE forward on the GPU (wan/modules/vae.py WanVAE_ semantics as WanVae computes them, bf16
// activations). Activations are channel-first [C, T, H, W] without a batch dim, as on the CPU.
#include "models/wan_vae_cuda.h"

#ifdef TW_CUDA
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "tw/cuda/device.h"
#include "tw/ops.h"
#include "tw/ops_conv.h"
#include "tw/ops_video.h"
#include "tw/ops_extra.h"
#endif

namespace tw::engine {

#ifndef TW_CUDA

struct WanVaeCuda::Impl {};
WanVaeCuda::WanVaeCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WanVaeCuda::~WanVaeCuda() = default;
std::unique_ptr<WanVaeCuda> WanVaeCuda::load(std::shared_ptr<loader::Checkpoint>) {
  throw Error("this build of turbowan has no CUDA backend: rebuild with TURBOWAN_CUDA=ON (needs nvcc and cuBLAS)");
}
std::unique_ptr<WanVaeCuda> WanVaeCuda::load(const std::string&) {
  throw Error("this build of turbowan has no CUDA backend: rebuild with TURBOWAN_CUDA=ON (needs nvcc and cuBLAS)");
}
const WanVaeConfig& WanVaeCuda::config() const { throw Error("no CUDA backend"); }
bool WanVaeCuda::decode(const Tensor&, const WanVae::ChunkFn&) const { throw Error("no CUDA backend"); }
HostTensor WanVaeCuda::decode(const Tensor&) const { throw Error("no CUDA backend"); }
bool WanVaeCuda::decode_device(const Tensor&, const WanVae::ChunkFn&) const { throw Error("no CUDA backend"); }
bool WanVaeCuda::decode_rgb8(const Tensor&, const Rgb8ChunkFn&) const { throw Error("no CUDA backend"); }
HostTensor WanVaeCuda::encode(const Tensor&) const { throw Error("no CUDA backend"); }
size_t WanVaeCuda::weight_bytes() const { return 0; }
size_t WanVaeCuda::activation_bytes() const { return 0; }
size_t WanVaeCuda::activation_peak_bytes() const { return 0; }
void WanVaeCuda::trim() {}

#else

using cuda::DeviceBuffer;

namespace {

// Wan2.1 latent statistics (wan/modules/vae.py WanVAE), fp32 — the same constants as WanVae.
const float kMean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                         0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
const float kStd[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                        3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

// TW_VAE_LAYOUT=cf: the previous layout for A/B runs (the norm writes channel-first, every conv pads and
// transposes its own input, the 2× upsample is a separate pass). TW_VAE_TRIM=0: keep chunk 0's buffers.
bool env_is(const char* name, const char* value) {
  const char* e = std::getenv(name);
  return e && std::strcmp(e, value) == 0;
}

// ---------------------------------------------------------------- device memory
// Exact-size free lists: every chunk after the second asks for the same sizes in the same order. Chunk 0
// (one frame) asks for sizes no later chunk does; between begin_chunk0() and trim_chunk0() a request with
// no free buffer of its size takes the smallest free one of at most 4× its size (the buffers of the
// 4-frame chunks, from the previous decode), and what chunk 0 still had to allocate is freed after it.
// Best fit only there: in the later chunks it would fragment the set (measured: +700 MB held).
// Buffers go back to the pool while kernels may still read them; that is safe because every op
// runs on one stream, so the next user of a buffer is ordered after its last reader.
class Pool {
 public:
  DeviceBuffer get(size_t bytes) {
    auto it = free_.find(bytes);
    if (it == free_.end() && chunk0_) {
      it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first > 4 * bytes) it = free_.end();
    }
    if (it != free_.end()) {
      DeviceBuffer b = std::move(it->second);
      free_.erase(it);
      return b;
    }
    held_ += bytes;
    peak_ = std::max(peak_, held_);
    DeviceBuffer b(bytes);
    if (chunk0_) fresh_.insert(b.get());
    return b;
  }
  void begin_chunk0() { chunk0_ = true; fresh_.clear(); }
  // Frees the free buffers allocated since begin_chunk0() (cudaFree waits for the device).
  void trim_chunk0() {
    for (auto it = free_.begin(); it != free_.end();) {
      if (fresh_.count(it->second.get())) { held_ -= it->first; it = free_.erase(it); }
      else ++it;
    }
    chunk0_ = false;
    fresh_.clear();
  }
  void put(DeviceBuffer b) { if (b.get()) free_.emplace(b.bytes(), std::move(b)); }
  size_t held() const { return held_; }
  size_t peak() const { return peak_; }
  void trim() {
    for (auto& kv : free_) held_ -= kv.first;
    free_.clear();
  }
 private:
  std::multimap<size_t, DeviceBuffer> free_;
  std::set<const void*> fresh_;
  bool chunk0_ = false;
  size_t held_ = 0, peak_ = 0;
};

// A bf16 video [C, T, H, W] whose buffer returns to the pool.
struct Vid {
  Pool* pool = nullptr;
  DeviceBuffer buf;
  int64_t C = 0, T = 0, H = 0, W = 0;

  Vid() = default;
  Vid(Pool& p, int64_t c, int64_t t, int64_t h, int64_t w) : pool(&p), buf(p.get(size_t(c * t * h * w) * 2)), C(c), T(t), H(h), W(w) {}
  Vid(Vid&& o) noexcept { *this = std::move(o); }
  Vid& operator=(Vid&& o) noexcept {
    if (this != &o) {
      release();
      pool = o.pool; buf = std::move(o.buf); C = o.C; T = o.T; H = o.H; W = o.W;
      o.pool = nullptr;
    }
    return *this;
  }
  ~Vid() { release(); }
  void release() {
    if (pool && buf.get()) pool->put(std::move(buf));
    buf = DeviceBuffer();
  }
  bool empty() const { return buf.get() == nullptr; }
  Tensor t() const { return buf.view(DType::BF16, {C, T, H, W}); }
  int64_t HW() const { return H * W; }
  char* frame_ptr(int64_t c, int64_t f) const { return static_cast<char*>(buf.get()) + size_t((c * T + f) * HW()) * 2; }
};

// Frames [t0, t0 + n) of x → a new video (one strided 2-D copy).
Vid frames(Pool& pool, const Vid& x, int64_t t0, int64_t n) {
  Vid y(pool, x.C, n, x.H, x.W);
  const size_t row = size_t(n * x.HW()) * 2;
  TW_CUDA_CHECK(cudaMemcpy2DAsync(y.buf.get(), row, x.frame_ptr(0, t0), size_t(x.T * x.HW()) * 2, row, size_t(x.C),
                                  cudaMemcpyDeviceToDevice, cuda::stream()));
  return y;
}

// cat([a, b], T)
Vid cat_frames(Pool& pool, const Vid& a, const Vid& b) {
  Vid y(pool, a.C, a.T + b.T, a.H, a.W);
  const size_t pitch = size_t(y.T * y.HW()) * 2, ra = size_t(a.T * a.HW()) * 2, rb = size_t(b.T * b.HW()) * 2;
  TW_CUDA_CHECK(cudaMemcpy2DAsync(y.buf.get(), pitch, a.buf.get(), ra, ra, size_t(a.C), cudaMemcpyDeviceToDevice, cuda::stream()));
  TW_CUDA_CHECK(cudaMemcpy2DAsync(y.frame_ptr(0, a.T), pitch, b.buf.get(), rb, rb, size_t(b.C), cudaMemcpyDeviceToDevice, cuda::stream()));
  return y;
}

Vid zeros(Pool& pool, int64_t C, int64_t T, int64_t H, int64_t W) {
  Vid y(pool, C, T, H, W);
  TW_CUDA_CHECK(cudaMemsetAsync(y.buf.get(), 0, y.buf.bytes(), cuda::stream()));  // bf16 +0 is all-zero bits
  return y;
}

// Host f32 → device bf16 video, host-side conversion.
Vid upload_video(Pool& pool, const float* src, int64_t C, int64_t T, int64_t H, int64_t W) {
  Vid y(pool, C, T, H, W);
  cuda::upload_as(src, C * T * H * W, DType::BF16, y.buf.get());
  return y;
}

// Device bf16 video → host f32 (bf16 → f32 is exact: a 16-bit shift).
HostTensor download_video(const Vid& x) {
  HostTensor out = HostTensor::empty(DType::F32, {x.C, x.T, x.H, x.W});
  const int64_t n = out.numel();
  std::vector<uint16_t> raw(static_cast<size_t>(n));
  TW_CUDA_CHECK(cudaMemcpyAsync(raw.data(), x.buf.get(), size_t(n) * 2, cudaMemcpyDeviceToHost, cuda::stream()));
  TW_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  float* dst = out.f32();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = uint32_t(raw[size_t(i)]) << 16;
    std::memcpy(dst + i, &u, 4);
  }
  return out;
}

// ---------------------------------------------------------------- weights
struct DConv {
  DeviceBuffer w, b;
  std::vector<int64_t> shape;  // [out, in, kt, kh, kw] or [out, in, kh, kw]
  int64_t out() const { return shape[0]; }
  int64_t in() const { return shape[1]; }
  Tensor wt() const { return w.view(DType::BF16, shape); }
  Tensor bt() const { return b.view(DType::BF16, {shape[0]}); }
  Tensor w2d() const { return w.view(DType::BF16, {shape[0], shape[1]}); }  // 1×1 kernels as [out, in]
};

struct DLayer {
  VaeLayer::Kind kind = VaeLayer::Residual;
  VaeResample::Mode mode = VaeResample::Upsample2d;
  DConv c1, c2, shortcut;  // residual: residual.2 / residual.6 / shortcut; attention: to_qkv / proj; resample: resample.1 / time_conv
  DeviceBuffer g1, g2;     // F32 gammas: residual.0 / residual.3, attention norm
  int64_t in = 0, out = 0;
};

struct DCoder {
  DConv conv1, head;
  std::vector<DLayer> middle, stages;
  DeviceBuffer head_gamma;
};

DeviceBuffer upload_f32(const Tensor& t) {
  std::vector<float> h(static_cast<size_t>(t.numel()));
  to_f32(t, h.data());
  return cuda::to_device(h, DType::F32);
}

DeviceBuffer upload_bf16(const Tensor& t) {
  if (t.dtype == DType::BF16 && t.contiguous()) {
    DeviceBuffer b(size_t(t.numel()) * 2);
    TW_CUDA_CHECK(cudaMemcpy(b.get(), t.data, b.bytes(), cudaMemcpyHostToDevice));
    return b;
  }
  std::vector<float> h(static_cast<size_t>(t.numel()));
  to_f32(t, h.data());
  return cuda::to_device(h, DType::BF16);
}

// Reads the layout WanVae::load has already validated (same key names, facts §7.8).
struct Uploader {
  const loader::Checkpoint& ck;
  size_t bytes = 0;

  DConv conv(const std::string& p) {
    DConv c;
    const auto& info = ck.info(p + ".weight");
    c.shape = info.shape;
    Tensor w = ck.tensor(p + ".weight", info.shape), b = ck.tensor(p + ".bias", {info.shape[0]});
    c.w = upload_bf16(w);
    c.b = upload_bf16(b);
    bytes += c.w.bytes() + c.b.bytes();
    return c;
  }
  DeviceBuffer gamma(const std::string& p) {
    const auto& info = ck.info(p);
    DeviceBuffer g = upload_f32(ck.tensor(p, info.shape));
    bytes += g.bytes();
    return g;
  }
  std::vector<DLayer> layers(const std::string& p, bool up) {
    std::vector<DLayer> out;
    for (int i = 0;; ++i) {
      const std::string q = p + "." + std::to_string(i);
      DLayer l;
      if (ck.has(q + ".residual.0.gamma")) {
        l.kind = VaeLayer::Residual;
        l.g1 = gamma(q + ".residual.0.gamma");
        l.c1 = conv(q + ".residual.2");
        l.g2 = gamma(q + ".residual.3.gamma");
        l.c2 = conv(q + ".residual.6");
        if (ck.has(q + ".shortcut.weight")) l.shortcut = conv(q + ".shortcut");
        l.in = l.c1.in(), l.out = l.c1.out();
      } else if (ck.has(q + ".norm.gamma")) {
        l.kind = VaeLayer::Attention;
        l.g1 = gamma(q + ".norm.gamma");
        l.c1 = conv(q + ".to_qkv");
        l.c2 = conv(q + ".proj");
        l.in = l.out = l.c2.out();
      } else if (ck.has(q + ".resample.1.weight")) {
        l.kind = VaeLayer::Resample;
        const bool temporal = ck.has(q + ".time_conv.weight");
        l.mode = up ? (temporal ? VaeResample::Upsample3d : VaeResample::Upsample2d)
                    : (temporal ? VaeResample::Downsample3d : VaeResample::Downsample2d);
        l.c1 = conv(q + ".resample.1");
        if (temporal) l.c2 = conv(q + ".time_conv");
        l.in = l.c1.in(), l.out = l.c1.out();
      } else {
        break;
      }
      out.push_back(std::move(l));
    }
    return out;
  }
  DCoder coder(const std::string& p, bool decoder) {
    DCoder c;
    c.conv1 = conv(p + ".conv1");
    c.middle = layers(p + ".middle", decoder);
    c.stages = layers(p + (decoder ? ".upsamples" : ".downsamples"), decoder);
    c.head_gamma = gamma(p + ".head.0.gamma");
    c.head = conv(p + ".head.2");
    return c;
  }
};

// One CausalConv3d's cache slot across chunks (feat_cache[idx] of the reference).
struct CacheSlot {
  enum State { Empty, Rep, Frames } state = Empty;
  Vid frames;
};

struct Caches {
  std::vector<CacheSlot> slots;
  size_t next = 0;
  void new_chunk() { next = 0; }
  CacheSlot& take() {
    if (next == slots.size()) slots.emplace_back();
    return slots[next++];
  }
};

}  // namespace

struct WanVaeCuda::Impl {
  WanVaeConfig cfg;
  std::shared_ptr<loader::Checkpoint> ckpt;
  DCoder encoder, decoder;
  DConv conv1, conv2;
  size_t weight_bytes = 0;
  mutable Pool pool;
  const bool cl_layout = !env_is("TW_VAE_LAYOUT", "cf");
  const bool trim_after_first = !env_is("TW_VAE_TRIM", "0");

  // TW_VAE_PROFILE=1: device time per op kind and shape, summed over a decode and printed to stderr.
  const bool profile = std::getenv("TW_VAE_PROFILE") != nullptr;
  mutable std::vector<std::tuple<std::string, cudaEvent_t, cudaEvent_t>> marks;
  template <class F>
  void timed(const std::string& label, F&& f) const {
    if (!profile) { f(); return; }
    cudaEvent_t a, b;
    TW_CUDA_CHECK(cudaEventCreate(&a));
    TW_CUDA_CHECK(cudaEventCreate(&b));
    TW_CUDA_CHECK(cudaEventRecord(a, cuda::stream()));
    f();
    TW_CUDA_CHECK(cudaEventRecord(b, cuda::stream()));
    marks.emplace_back(label, a, b);
  }
  void report_profile() const {
    if (!profile) return;
    cuda::synchronize();
    std::map<std::string, std::pair<double, int>> by;
    double total = 0;
    for (auto& [label, a, b] : marks) {
      float ms = 0;
      TW_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
      by[label].first += ms;
      by[label].second += 1;
      total += ms;
      cudaEventDestroy(a);
      cudaEventDestroy(b);
    }
    marks.clear();
    std::vector<std::pair<double, std::string>> rows;
    for (auto& [k, v] : by) rows.emplace_back(v.first, k + " ×" + std::to_string(v.second));
    std::sort(rows.rbegin(), rows.rend());
    std::fprintf(stderr, "vae profile: %.1f ms in timed ops\n", total);
    for (auto& [ms, k] : rows) std::fprintf(stderr, "  %9.2f ms  %5.1f%%  %s\n", ms, 100.0 * ms / total, k.c_str());
  }
  static std::string shape_label(const char* op, const Tensor& w, const Vid& y) {
    std::string k;
    for (int d = 2; d < w.ndim; ++d) k += std::to_string(w.shape[d]);
    return std::string(op) + " " + std::to_string(w.shape[1]) + "→" + std::to_string(w.shape[0]) + " k" + k + " @" +
           std::to_string(y.H) + "x" + std::to_string(y.W);
  }

  Vid new_vid(int64_t C, int64_t T, int64_t H, int64_t W) const { return Vid(pool, C, T, H, W); }

  // The frames the reference keeps for the next chunk (WanVae's next_cache).
  Vid next_cache(const Vid& x, const CacheSlot& slot) const {
    if (x.T >= 2) return frames(pool, x, x.T - 2, 2);
    Vid cur = frames(pool, x, 0, 1);
    if (slot.state == CacheSlot::Frames) {
      Vid last = frames(pool, slot.frames, slot.frames.T - 1, 1);
      return cat_frames(pool, last, cur);
    }
    return cur;
  }

  // CausalConv3d with kernel (kt, k, k), time padding 2·(kt/2) in front, spatial padding k/2;
  // + residual (same shape as the output) fused into the conv's epilogue when given.
  Vid causal_conv(const DConv& cv, const Vid& x, CacheSlot* slot, const Vid* residual = nullptr) const {
    const int64_t kt = cv.shape[2], k = cv.shape[3];
    const int64_t pad_front = 2 * (kt / 2), ps = k / 2;
    ops::Conv3dParams p;
    p.x = x.t(), p.w = cv.wt(), p.b = cv.bt();
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = ps;
    p.pad_t = pad_front;
    Vid new_cache;
    if (slot) {
      new_cache = next_cache(x, *slot);
      if (slot->state == CacheSlot::Frames && pad_front > 0) {
        p.cache = slot->frames.t();
        p.pad_t = std::max<int64_t>(0, pad_front - slot->frames.T);
      }
    }
    const int64_t Tc = p.cache.empty() ? 0 : slot->frames.T;
    const int64_t To = ops::conv_out_size(x.T + Tc, p.pad_t, kt, 1, "time");
    Vid y = new_vid(cv.out(), To, x.H, x.W);
    p.y = y.t();
    if (residual) p.residual = residual->t();
    timed(shape_label("conv3d", p.w, y) + (residual ? " +residual" : ""), [&] { ops::conv3d(p); });
    if (slot) {
      slot->frames = std::move(new_cache);
      slot->state = CacheSlot::Frames;
    }
    return y;
  }

  // RMS_norm(images=False) then SiLU
  Vid norm_silu(const DeviceBuffer& gamma, const Vid& x) const {
    Vid y = new_vid(x.C, x.T, x.H, x.W);
    const std::string at = " C" + std::to_string(x.C) + " @" + std::to_string(x.H) + "x" + std::to_string(x.W);
    ops::ChannelRmsNormParams p{x.t(), gamma.view(DType::F32, {x.C}), {}, y.t()};
    p.silu = true;  // one pass and one rounding instead of norm, round, SiLU, round
    timed("channel_rms_norm+silu" + at, [&] { ops::channel_rms_norm(p); });
    return y;
  }

  // RMS_norm + SiLU, then the CausalConv3d cv (+ residual, fused). The norm writes the conv's padded
  // channels-last input [Tp, Hp, Wp, C] itself (zero border; the zero and cached frames in front are
  // filled here), so the conv has no pad/transpose pass of its own. The slot then caches padded
  // channels-last frames [n, Hp, Wp, C] (a slot always serves the same conv, so its format never changes).
  Vid norm_silu_conv(const DeviceBuffer& gamma, const Vid& x, const DConv& cv, CacheSlot& slot, const Vid* residual = nullptr) const {
    const int64_t kt = cv.shape[2], k = cv.shape[3], pad_front = 2 * (kt / 2), ps = k / 2;
    if (!cl_layout || x.C % 32 != 0 || x.HW() % 8 != 0 || pad_front == 0) return causal_conv(cv, norm_silu(gamma, x), &slot, residual);
    const int64_t C = x.C, Hp = x.H + 2 * ps, Wp = x.W + 2 * ps;
    const bool cached = slot.state == CacheSlot::Frames;
    const int64_t Tc = cached ? slot.frames.T : 0, pad_t = std::max<int64_t>(0, pad_front - Tc), Tp = pad_t + Tc + x.T;
    const size_t frame = size_t(Hp * Wp * C) * 2;
    Vid xp(pool, C, Tp, Hp, Wp);  // holds [Tp, Hp, Wp, C]
    char* base = static_cast<char*>(xp.buf.get());
    if (pad_t > 0) TW_CUDA_CHECK(cudaMemsetAsync(base, 0, size_t(pad_t) * frame, cuda::stream()));
    if (Tc > 0)
      TW_CUDA_CHECK(cudaMemcpyAsync(base + size_t(pad_t) * frame, slot.frames.buf.get(), size_t(Tc) * frame, cudaMemcpyDeviceToDevice,
                                    cuda::stream()));
    const Tensor xpt = xp.buf.view(DType::BF16, {Tp, Hp, Wp, C});
    ops::ChannelRmsNormParams np{x.t(), gamma.view(DType::F32, {C}), {}, xpt};
    np.silu = true;
    np.y_padded_cl = true, np.y_t0 = pad_t + Tc, np.y_top = np.y_left = ps;
    timed("channel_rms_norm+silu→padded C" + std::to_string(C) + " @" + std::to_string(x.H) + "x" + std::to_string(x.W),
          [&] { ops::channel_rms_norm(np); });
    // The next chunk's cache: the last min(2, Tc + T) frames of [cache | x], contiguous at the end of xp.
    const int64_t nc = std::min<int64_t>(2, Tc + x.T);
    Vid next(pool, C, nc, Hp, Wp);
    TW_CUDA_CHECK(cudaMemcpyAsync(next.buf.get(), base + size_t(Tp - nc) * frame, size_t(nc) * frame, cudaMemcpyDeviceToDevice,
                                  cuda::stream()));
    ops::Conv3dParams p;
    p.x = xpt, p.x_padded_cl = true;
    p.w = cv.wt(), p.b = cv.bt();
    Vid y = new_vid(cv.out(), Tp - kt + 1, Hp - k + 1, Wp - k + 1);
    p.y = y.t();
    if (residual) p.residual = residual->t();
    timed(shape_label("conv3d", p.w, y) + (residual ? " +residual" : ""), [&] { ops::conv3d(p); });
    slot.frames = std::move(next);
    slot.state = CacheSlot::Frames;
    return y;
  }

  Vid residual_block(const DLayer& b, const Vid& x, Caches& caches) const {
    Vid h;
    if (b.shortcut.w.get()) h = causal_conv(b.shortcut, x, nullptr);
    Vid r = norm_silu_conv(b.g1, x, b.c1, caches.take());
    return norm_silu_conv(b.g2, r, b.c2, caches.take(), b.shortcut.w.get() ? &h : &x);  // + skip, one rounding
  }

  // Single-head attention over the H·W pixels of each frame, plus the input.
  Vid attention_block(const DLayer& a, const Vid& x) const {
    const int64_t C = x.C, L = x.HW();
    Vid out = new_vid(C, x.T, x.H, x.W);
    Vid n = new_vid(C, 1, 1, L), nt = new_vid(L, 1, 1, C), q = new_vid(L, 1, 1, C), k = new_vid(L, 1, 1, C);
    Vid v = new_vid(L, 1, 1, C), o = new_vid(L, 1, 1, C), pj = new_vid(L, 1, 1, C), pt = new_vid(C, 1, 1, L);
    const Tensor wqkv = a.c1.w.view(DType::BF16, {3 * C, C}), bqkv = a.c1.bt();
    const auto flat = [](const Vid& t, int64_t r, int64_t c) { return t.buf.view(DType::BF16, {r, c}); };
    for (int64_t t = 0; t < x.T; ++t) {
      Vid xf = x.T == 1 ? Vid() : frames(pool, x, t, 1);
      const Vid& src = x.T == 1 ? x : xf;
      const Tensor xt = flat(src, C, L);
      ops::channel_rms_norm({xt, a.g1.view(DType::F32, {C}), {}, flat(n, C, L)});
      ops::transpose2d({flat(n, C, L), flat(nt, L, C)});
      ops::linear({flat(nt, L, C), wqkv.slice0(0, C), bqkv.slice0(0, C), flat(q, L, C)});
      ops::linear({flat(nt, L, C), wqkv.slice0(C, 2 * C), bqkv.slice0(C, 2 * C), flat(k, L, C)});
      ops::linear({flat(nt, L, C), wqkv.slice0(2 * C, 3 * C), bqkv.slice0(2 * C, 3 * C), flat(v, L, C)});
      ops::AttentionRelBiasParams ap;
      ap.q = q.buf.view(DType::BF16, {L, 1, C}), ap.k = k.buf.view(DType::BF16, {L, 1, C}), ap.v = v.buf.view(DType::BF16, {L, 1, C});
      ap.o = o.buf.view(DType::BF16, {L, 1, C}), ap.scale = float(1.0 / std::sqrt(double(C)));
      ops::attention_rel_bias(ap);
      ops::linear({flat(o, L, C), a.c2.w2d(), a.c2.bt(), flat(pj, L, C)});
      ops::transpose2d({flat(pj, L, C), flat(pt, C, L)});
      ops::gated_add({flat(pt, C, L), xt, {}});
      const size_t row = size_t(L) * 2;
      TW_CUDA_CHECK(cudaMemcpy2DAsync(out.frame_ptr(0, t), size_t(x.T * L) * 2, pt.buf.get(), row, row, size_t(C),
                                      cudaMemcpyDeviceToDevice, cuda::stream()));
    }
    return out;
  }

  Vid resample(const DLayer& r, const Vid& x_in, Caches& caches) const {
    const int64_t C = x_in.C;
    Vid x;  // the input of the spatial part (empty: x_in itself)
    if (r.mode == VaeResample::Upsample3d) {
      CacheSlot& slot = caches.take();
      if (slot.state == CacheSlot::Empty) {
        slot.state = CacheSlot::Rep;  // first chunk: the frame passes through
      } else {
        const int64_t T = x_in.T, HW = x_in.HW();
        Vid keep;
        if (T >= 2) keep = frames(pool, x_in, T - 2, 2);
        else if (slot.state == CacheSlot::Frames) keep = cat_frames(pool, frames(pool, slot.frames, slot.frames.T - 1, 1), x_in);
        else keep = cat_frames(pool, zeros(pool, C, 1, x_in.H, x_in.W), x_in);
        ops::Conv3dParams p;  // time_conv: CausalConv3d(C, 2C, (3,1,1), padding (1,0,0))
        p.x = x_in.t(), p.w = r.c2.wt(), p.b = r.c2.bt(), p.pad_t = 2;
        if (slot.state == CacheSlot::Frames) {
          p.cache = slot.frames.t();
          p.pad_t = std::max<int64_t>(0, 2 - slot.frames.T);
        }
        Vid y = new_vid(2 * C, T, x_in.H, x_in.W);
        p.y = y.t();
        timed(shape_label("conv3d time_conv", p.w, y), [&] { ops::conv3d(p); });
        slot.frames = std::move(keep);
        slot.state = CacheSlot::Frames;
        // [2C, T] → [C, 2T]: channel s·C + c of frame t becomes channel c of frame 2t + s. Row (c, t) of
        // half s lands at (c·2T + 2t + s)·HW = s·HW + (c·T + t)·2HW: one pitched copy per half.
        x = new_vid(C, 2 * T, x_in.H, x_in.W);
        const size_t row = size_t(HW) * 2;
        for (int64_t s = 0; s < 2; ++s)
          TW_CUDA_CHECK(cudaMemcpy2DAsync(static_cast<char*>(x.buf.get()) + s * row, 2 * row,
                                          static_cast<const char*>(y.buf.get()) + size_t(s * C * T) * row, row, row, size_t(C * T),
                                          cudaMemcpyDeviceToDevice, cuda::stream()));
      }
    }
    const Vid& xs = x.empty() ? x_in : x;
    const int64_t T = xs.T, H = xs.H, W = xs.W;
    if (r.mode == VaeResample::Upsample2d || r.mode == VaeResample::Upsample3d) {
      // nearest ×2, then Conv2d(C, C/2, 3, padding 1) per frame; the conv reads x upsampled in its own
      // pad pass (no upsampled tensor) when it takes the channels-last path (C % 32 == 0)
      Vid y = new_vid(r.out, T, 2 * H, 2 * W);
      ops::Conv2dParams p;
      p.w = r.c1.wt(), p.b = r.c1.bt(), p.y = y.t();
      p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
      if (cl_layout && C % 32 == 0) {
        p.x = xs.t(), p.upsample = 2;
        timed(shape_label("conv2d", p.w, y) + " +upsample", [&] { ops::conv2d(p); });
        return y;
      }
      Vid upv = new_vid(C, T, 2 * H, 2 * W);
      timed("upsample_nearest C" + std::to_string(C) + " @" + std::to_string(2 * H) + "x" + std::to_string(2 * W),
            [&] { ops::upsample_nearest({xs.t(), upv.t(), 2, 2}); });
      p.x = upv.t();
      timed(shape_label("conv2d", p.w, y), [&] { ops::conv2d(p); });
      return y;
    }
    // downsample: ZeroPad2d((0,1,0,1)) then Conv2d(C, C, 3, stride 2) per frame
    const int64_t Ho = ops::conv_out_size(H, 1, 3, 2, "height"), Wo = ops::conv_out_size(W, 1, 3, 2, "width");
    Vid d = new_vid(r.out, T, Ho, Wo);
    ops::Conv2dParams p;
    p.x = xs.t(), p.w = r.c1.wt(), p.b = r.c1.bt(), p.y = d.t();
    p.stride_h = p.stride_w = 2, p.pad_bottom = p.pad_right = 1;
    ops::conv2d(p);
    if (r.mode == VaeResample::Downsample2d) return d;
    CacheSlot& slot = caches.take();
    if (slot.state == CacheSlot::Empty) {  // first chunk: no temporal conv, remember the frame
      slot.frames = frames(pool, d, T - 1, 1);
      slot.state = CacheSlot::Frames;
      return d;
    }
    // time_conv: CausalConv3d(C, C, (3,1,1), stride (2,1,1), no padding) over [last cached frame | d]
    Vid last = frames(pool, slot.frames, slot.frames.T - 1, 1);
    ops::Conv3dParams q;
    q.x = d.t(), q.cache = last.t();
    q.w = r.c2.wt(), q.b = r.c2.bt(), q.stride_t = 2;
    const int64_t To = ops::conv_out_size(T + 1, 0, 3, 2, "time");
    Vid y = new_vid(r.out, To, Ho, Wo);
    q.y = y.t();
    ops::conv3d(q);
    slot.frames = frames(pool, d, T - 1, 1);
    return y;
  }

  Vid run_layers(const std::vector<DLayer>& layers, Vid x, Caches& caches) const {
    for (const DLayer& l : layers) {
      if (l.kind == VaeLayer::Residual) x = residual_block(l, x, caches);
      else if (l.kind == VaeLayer::Attention) timed("attention block", [&] { x = attention_block(l, x); });
      else x = resample(l, x, caches);
    }
    return x;
  }

  Vid coder_forward(const DCoder& c, bool decoder, const Vid& x, Caches& caches) const {
    caches.new_chunk();
    Vid h = causal_conv(c.conv1, x, &caches.take());
    if (decoder) {
      h = run_layers(c.middle, std::move(h), caches);
      h = run_layers(c.stages, std::move(h), caches);
    } else {
      h = run_layers(c.stages, std::move(h), caches);
      h = run_layers(c.middle, std::move(h), caches);
    }
    return norm_silu_conv(c.head_gamma, h, c.head, caches.take());
  }

  // Runs the decoder chunk by chunk; `emit` gets each chunk's frames [3, n, 8H, 8W] on the device.
  template <class Emit>
  bool decode_chunks(const Tensor& latents, const Emit& emit) const {
    const int64_t Z = cfg.z_dim;
    check(latents.ndim == 4 && latents.size(0) == Z, "vae decode", "latents must be [" + std::to_string(Z) + ", T, H, W], got " + latents.shape_str());
    check(latents.dtype == DType::F32 && latents.device == Device::CPU && latents.contiguous(), "vae decode", "latents must be contiguous F32 on the CPU");
    const int64_t T = latents.size(1), H = latents.size(2), W = latents.size(3), HW = H * W;
    Caches caches;
    std::vector<float> z(static_cast<size_t>(Z * HW));
    for (int64_t t = 0; t < T; ++t) {
      // Chunk 0 runs one frame, the others 4 (after the temporal upsamples): the buffers it had to allocate
      // (first decode: about 1 GB at 480p) are never asked for again, so free them before chunk 1.
      if (t == 0 && trim_after_first) pool.begin_chunk0();
      if (t == 1 && trim_after_first) pool.trim_chunk0();
      // z / (1/std) + mean (fp32, as the reference), then conv2 (1×1×1) on this frame   // [Z, 1, H, W]
      for (int64_t c = 0; c < Z; ++c) {
        const float inv = 1.0f / kStd[c];
        const float* src = latents.ptr<float>() + (c * T + t) * HW;
        for (int64_t i = 0; i < HW; ++i) z[size_t(c * HW + i)] = src[i] / inv + kMean[c];
      }
      Vid zd = upload_video(pool, z.data(), Z, 1, H, W);
      Vid zc = causal_conv(conv2, zd, nullptr);
      Vid out = coder_forward(decoder, true, zc, caches);
      if (!emit(out, int(t), int(T))) { report_profile(); return false; }
    }
    report_profile();
    return true;
  }
};

WanVaeCuda::WanVaeCuda(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WanVaeCuda::~WanVaeCuda() = default;
const WanVaeConfig& WanVaeCuda::config() const { return impl_->cfg; }
size_t WanVaeCuda::weight_bytes() const { return impl_->weight_bytes; }
size_t WanVaeCuda::activation_bytes() const { return impl_->pool.held(); }
size_t WanVaeCuda::activation_peak_bytes() const { return impl_->pool.peak(); }
void WanVaeCuda::trim() { impl_->pool.trim(); }

std::unique_ptr<WanVaeCuda> WanVaeCuda::load(const std::string& path) {
  return load(std::make_shared<loader::Checkpoint>(loader::Checkpoint::open(path)));
}

std::unique_ptr<WanVaeCuda> WanVaeCuda::load(std::shared_ptr<loader::Checkpoint> ckpt) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) throw Error("no CUDA device is visible (cudaGetDeviceCount); use the CPU VAE");
  auto cpu = WanVae::load(ckpt);  // validates every key and shape, detects the config
  auto im = std::make_unique<Impl>();
  im->cfg = cpu->config();
  im->ckpt = ckpt;
  Uploader up{*ckpt};
  im->encoder = up.coder("encoder", false);
  im->decoder = up.coder("decoder", true);
  im->conv1 = up.conv("conv1");
  im->conv2 = up.conv("conv2");
  im->weight_bytes = up.bytes;
  cuda::synchronize();
  return std::unique_ptr<WanVaeCuda>(new WanVaeCuda(std::move(im)));
}

bool WanVaeCuda::decode_device(const Tensor& latents, const WanVae::ChunkFn& on_chunk) const {
  return impl_->decode_chunks(latents, [&](const Vid& out, int chunk, int total) { return !on_chunk || on_chunk(out.t(), chunk, total); });
}

bool WanVaeCuda::decode(const Tensor& latents, const WanVae::ChunkFn& on_chunk) const {
  return impl_->decode_chunks(latents, [&](const Vid& out, int chunk, int total) {
    HostTensor host = download_video(out);
    return !on_chunk || on_chunk(host.t(), chunk, total);
  });
}

bool WanVaeCuda::decode_rgb8(const Tensor& latents, const Rgb8ChunkFn& on_chunk) const {
  DeviceBuffer dev;
  std::unique_ptr<uint8_t, decltype(&cudaFreeHost)> host(nullptr, &cudaFreeHost);
  size_t capacity = 0;
  return impl_->decode_chunks(latents, [&](const Vid& out, int chunk, int total) {
    const size_t bytes = size_t(out.T * out.H * out.W * 3);
    if (bytes > capacity) {  // chunk 0 holds 1 frame, the rest 4: at most one reallocation
      dev = DeviceBuffer(bytes);
      uint8_t* p = nullptr;
      TW_CUDA_CHECK(cudaMallocHost(&p, bytes));  // pinned: the copy runs at full PCIe rate
      host.reset(p);
      capacity = bytes;
    }
    ops::to_rgb8({out.t(), Tensor::view(dev.get(), DType::U8, {out.T, out.H, out.W, 3}, Device::CUDA)});
    TW_CUDA_CHECK(cudaMemcpyAsync(host.get(), dev.get(), bytes, cudaMemcpyDeviceToHost, cuda::stream()));
    TW_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
    return !on_chunk || on_chunk(host.get(), out.T, chunk, total);
  });
}

HostTensor WanVaeCuda::decode(const Tensor& latents) const {
  const int64_t H = latents.size(2) * config().spatial_factor, W = latents.size(3) * config().spatial_factor;
  return collect_decoded_frames(decoded_frames(latents.size(1)), H, W, [&](const ChunkSink& sink) { return decode(latents, sink); });
}

HostTensor WanVaeCuda::encode(const Tensor& video) const {
  const Impl& m = *impl_;
  const int64_t k = m.cfg.temporal_factor, s = m.cfg.spatial_factor, Z = m.cfg.z_dim;
  check(video.ndim == 4 && video.size(0) == 3, "vae encode", "video must be [3, F, H, W], got " + video.shape_str());
  check(video.dtype == DType::F32 && video.device == Device::CPU && video.contiguous(), "vae encode", "video must be contiguous F32 on the CPU");
  const int64_t F = video.size(1), H = video.size(2), W = video.size(3);
  check((F - 1) % k == 0, "vae encode", "frame count " + std::to_string(F) + " must be 1 + " + std::to_string(k) + "·n");
  check(H % s == 0 && W % s == 0, "vae encode", "height and width (" + std::to_string(H) + "×" + std::to_string(W) + ") must be multiples of " + std::to_string(s));
  const int64_t T = 1 + (F - 1) / k, h = H / s, w = W / s, hw = h * w, HW = H * W;
  Caches caches;
  Vid enc(m.pool, 2 * Z, T, h, w);
  std::vector<float> chunk;
  for (int64_t i = 0; i < T; ++i) {
    const int64_t f0 = i == 0 ? 0 : 1 + k * (i - 1), n = i == 0 ? 1 : k;
    chunk.resize(size_t(3 * n * HW));
    for (int64_t c = 0; c < 3; ++c)
      std::memcpy(chunk.data() + c * n * HW, video.ptr<float>() + (c * F + f0) * HW, size_t(n * HW) * sizeof(float));
    Vid x = upload_video(m.pool, chunk.data(), 3, n, H, W);
    Vid out = m.coder_forward(m.encoder, false, x, caches);  // [2Z, 1, h, w]
    check(out.T == 1, "vae encode", "encoder chunk produced " + std::to_string(out.T) + " frames, expected 1");
    const size_t row = size_t(hw) * 2;
    TW_CUDA_CHECK(cudaMemcpy2DAsync(enc.frame_ptr(0, i), size_t(T) * row, out.buf.get(), row, row, size_t(2 * Z),
                                    cudaMemcpyDeviceToDevice, cuda::stream()));
  }
  Vid mu_logvar = m.causal_conv(m.conv1, enc, nullptr);  // [2Z, T, h, w]
  HostTensor ml = download_video(mu_logvar);
  HostTensor mu = HostTensor::empty(DType::F32, {Z, T, h, w});
  for (int64_t c = 0; c < Z; ++c) {
    const float inv = 1.0f / kStd[c];
    const float* src = ml.f32() + c * T * hw;
    float* dst = mu.f32() + c * T * hw;
    for (int64_t j = 0; j < T * hw; ++j) dst[j] = (src[j] - kMean[c]) * inv;
  }
  return mu;
}

#endif

}  // namespace tw::engine
