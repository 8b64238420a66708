// The VAE / umT5 ops on CUDA (conv3d with the frame cache, conv2d incl. stride 2 with right/bottom pad,
// channel_rms_norm, upsample_nearest, transpose2d, mul, attention_rel_bias) against their CPU references
// on the same bf16-rounded inputs. Skips, saying so, when no GPU is visible.
//
// Tolerances. conv3d/conv2d: bf16 operands, exact products, fp32 accumulation, one rounding → the
// result is the reference rounded to bf16 up to accumulation-order error (~√K · 2^-24 relative to the
// terms' rms, far below 1e-4 · rms(ref)): 1 bf16 ulp + 1e-4 · rms(ref). channel_rms_norm (also with the
// fused SiLU), mul: fp32 math, one rounding → 1 ulp. upsample/transpose: exact copies (0 ulp). attention_rel_bias: q·kᵀ is rounded
// to bf16 before the softmax (as T5's bf16 einsum), P is rounded to bf16, the output once more:
// errors of ~2^-9 relative on logits and weights → rel L2 ≤ 1e-2 on O(1) logits, every element finite.
#include <cmath>
#include <cstdio>

#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"
#include "tw/ops_conv.h"
#include "tw/ops_extra.h"

using namespace tw;
using namespace tw::cuda::testing;

namespace {

void report(const char* what, const Stats& s, const DevTensor& out) {
  std::printf("  %-64s rel_l2 %.2e  max_abs %.2e  over %lld/%lld\n", what, s.rel_l2, s.max_abs, (long long)s.over, (long long)s.n);
  TW_CHECK_MSG(s.nan == 0, "%s: %lld NaN elements", what, (long long)s.nan);
  TW_CHECK_MSG(s.over == 0, "%s: %lld elements beyond tolerance", what, (long long)s.over);
  TW_CHECK_MSG(out.guard_intact(), "%s: wrote past the end", what);
}

std::vector<float> structured(size_t n, int kind, uint64_t seed) {
  if (kind == 0) return randn_fast(n, seed, 1.f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = kind == 1 ? 1.f : float(int64_t(i % 17) - 8) * 0.125f;  // ones, arange-like
  return v;
}

struct ConvCase {
  int64_t Cin, Cout, T, Tc, H, W, kt, kh, kw;
  int64_t st = 1, sh = 1, sw = 1, pad_t = 0, top = 0, bottom = 0, left = 0, right = 0;
  int kind = 0;
  bool bias = true;
  bool residual = false;  // y = conv + b + residual (fused skip add)
};

void run_conv3d(const ConvCase& c, uint64_t seed) {
  auto x = DevTensor::make(structured(size_t(c.Cin * c.T * c.H * c.W), c.kind, seed), DType::BF16, {c.Cin, c.T, c.H, c.W});
  DevTensor cache;
  if (c.Tc) cache = DevTensor::make(randn_fast(size_t(c.Cin * c.Tc * c.H * c.W), seed + 1), DType::BF16, {c.Cin, c.Tc, c.H, c.W});
  auto w = DevTensor::make(structured(size_t(c.Cout * c.Cin * c.kt * c.kh * c.kw), c.kind == 1 ? 2 : 0, seed + 2), DType::BF16,
                           {c.Cout, c.Cin, c.kt, c.kh, c.kw});
  DevTensor b;
  if (c.bias) b = DevTensor::make(randn_fast(size_t(c.Cout), seed + 3, 0.5f), DType::F32, {c.Cout});
  const int64_t To = (c.pad_t + c.Tc + c.T - c.kt) / c.st + 1, Ho = (c.H + c.top + c.bottom - c.kh) / c.sh + 1,
                Wo = (c.W + c.left + c.right - c.kw) / c.sw + 1;
  auto y = DevTensor::poisoned(DType::BF16, {c.Cout, To, Ho, Wo});
  DevTensor res;
  if (c.residual) res = DevTensor::make(randn_fast(size_t(c.Cout * To * Ho * Wo), seed + 4, 4.f), DType::BF16, {c.Cout, To, Ho, Wo});
  ops::Conv3dParams p;
  p.x = x.t; p.w = w.t; p.y = y.t;
  if (c.residual) p.residual = res.t;
  if (c.Tc) p.cache = cache.t;
  if (c.bias) p.b = b.t;
  p.stride_t = c.st, p.stride_h = c.sh, p.stride_w = c.sw, p.pad_t = c.pad_t;
  p.pad_top = c.top, p.pad_bottom = c.bottom, p.pad_left = c.left, p.pad_right = c.right;
  ops::conv3d(p);
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(c.Cout * To * Ho * Wo)), xh = x.host, wh = w.host, ch = cache.host, bh = b.host,
      rh = res.host;
  ops::Conv3dParams r = p;
  r.x = cpu_view(xh, {c.Cin, c.T, c.H, c.W});
  r.w = cpu_view(wh, {c.Cout, c.Cin, c.kt, c.kh, c.kw});
  r.cache = c.Tc ? cpu_view(ch, {c.Cin, c.Tc, c.H, c.W}) : Tensor{};
  r.b = c.bias ? cpu_view(bh, {c.Cout}) : Tensor{};
  r.y = cpu_view(ref, {c.Cout, To, Ho, Wo});
  r.residual = c.residual ? cpu_view(rh, {c.Cout, To, Ho, Wo}) : Tensor{};
  ops::conv3d(r);
  char what[160];
  std::snprintf(what, sizeof what, "conv3d %lld→%lld T%lld+%lld %lldx%lld k%lld%lld%lld s%lld%lld%lld pad t%lld %lld/%lld/%lld/%lld kind%d%s",
                (long long)c.Cin, (long long)c.Cout, (long long)c.T, (long long)c.Tc, (long long)c.H, (long long)c.W, (long long)c.kt,
                (long long)c.kh, (long long)c.kw, (long long)c.st, (long long)c.sh, (long long)c.sw, (long long)c.pad_t,
                (long long)c.top, (long long)c.bottom, (long long)c.left, (long long)c.right, c.kind, c.residual ? " +res" : "");
  report(what, compare_bf16(y.download(), ref, 1.f, 1e-4f * float(rms(ref)) + 1e-6f), y);
}

// Conv3dParams::x_padded_cl: x [Tp, Hp, Wp, Cin] is the whole padded input (random everywhere, so a
// kernel that skipped or shifted the border would show).
void run_conv3d_cl(int64_t Cin, int64_t Cout, int64_t Tp, int64_t Hp, int64_t Wp, int64_t k, bool residual, uint64_t seed) {
  auto x = DevTensor::make(randn_fast(size_t(Tp * Hp * Wp * Cin), seed), DType::BF16, {Tp, Hp, Wp, Cin});
  auto w = DevTensor::make(randn_fast(size_t(Cout * Cin * k * k * k), seed + 2, 0.1f), DType::BF16, {Cout, Cin, k, k, k});
  auto b = DevTensor::make(randn_fast(size_t(Cout), seed + 3, 0.5f), DType::F32, {Cout});
  const int64_t To = Tp - k + 1, Ho = Hp - k + 1, Wo = Wp - k + 1;
  auto y = DevTensor::poisoned(DType::BF16, {Cout, To, Ho, Wo});
  DevTensor res;
  if (residual) res = DevTensor::make(randn_fast(size_t(Cout * To * Ho * Wo), seed + 4, 4.f), DType::BF16, {Cout, To, Ho, Wo});
  ops::Conv3dParams p;
  p.x = x.t, p.x_padded_cl = true, p.w = w.t, p.b = b.t, p.y = y.t;
  if (residual) p.residual = res.t;
  ops::conv3d(p);
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(Cout * To * Ho * Wo)), xh = x.host, wh = w.host, bh = b.host, rh = res.host;
  ops::Conv3dParams r = p;
  r.x = cpu_view(xh, {Tp, Hp, Wp, Cin}), r.w = cpu_view(wh, {Cout, Cin, k, k, k}), r.b = cpu_view(bh, {Cout});
  r.y = cpu_view(ref, {Cout, To, Ho, Wo});
  r.residual = residual ? cpu_view(rh, {Cout, To, Ho, Wo}) : Tensor{};
  ops::conv3d(r);
  char what[128];
  std::snprintf(what, sizeof what, "conv3d x_padded_cl %lld→%lld [%lld,%lld,%lld] k%lld%s", (long long)Cin, (long long)Cout, (long long)Tp,
                (long long)Hp, (long long)Wp, (long long)k, residual ? " +res" : "");
  report(what, compare_bf16(y.download(), ref, 1.f, 1e-4f * float(rms(ref)) + 1e-6f), y);
}

// channel_rms_norm + SiLU with y_padded_cl: frames [t0, t0 + T) of y [Tp, H + 2·pad, W + 2·pad, C] are
// compared (the others are left poisoned by contract and not looked at).
void run_rms_cl(int64_t C, int64_t T, int64_t H, int64_t W, int64_t Tp, int64_t t0, int64_t pad, uint64_t seed) {
  const int64_t Hp = H + 2 * pad, Wp = W + 2 * pad;
  auto x = DevTensor::make(randn_fast(size_t(C * T * H * W), seed, 2.f), DType::BF16, {C, T, H, W});
  auto g = DevTensor::make(randn_fast(size_t(C), seed + 1, 1.f), DType::F32, {C});
  auto y = DevTensor::poisoned(DType::BF16, {Tp, Hp, Wp, C});
  ops::ChannelRmsNormParams p;
  p.x = x.t, p.gamma = g.t, p.y = y.t, p.silu = true;
  p.y_padded_cl = true, p.y_t0 = t0, p.y_top = p.y_left = pad;
  ops::channel_rms_norm(p);
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(Tp * Hp * Wp * C), 0.f), xh = x.host, gh = g.host;
  ops::ChannelRmsNormParams r = p;
  r.x = cpu_view(xh, {C, T, H, W}), r.gamma = cpu_view(gh, {C}), r.y = cpu_view(ref, {Tp, Hp, Wp, C});
  ops::channel_rms_norm(r);
  const std::vector<float> got = y.download();
  const size_t f = size_t(Hp * Wp * C), a = size_t(t0) * f, e = size_t(t0 + T) * f;
  char what[128];
  std::snprintf(what, sizeof what, "channel_rms_norm+silu → padded cl C%lld T%lld %lldx%lld in [%lld,%lld,%lld] at t%lld", (long long)C,
                (long long)T, (long long)H, (long long)W, (long long)Tp, (long long)Hp, (long long)Wp, (long long)t0);
  report(what, compare_bf16(std::vector<float>(got.begin() + a, got.begin() + e), std::vector<float>(ref.begin() + a, ref.begin() + e), 1.f, 1e-6f),
         y);
}

// up > 1: Conv2dParams::upsample (nearest ×up folded into the conv's pad pass).
void run_conv2d(int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t stride, bool wan_down, bool image, uint64_t seed,
                int64_t up = 1) {
  std::vector<int64_t> xs = image ? std::vector<int64_t>{Cin, H / up, W / up} : std::vector<int64_t>{Cin, T, H / up, W / up};
  auto x = DevTensor::make(randn_fast(size_t(Cin * (image ? 1 : T) * (H / up) * (W / up)), seed), DType::BF16, xs);
  auto w = DevTensor::make(randn_fast(size_t(Cout * Cin * 9), seed + 1, 0.2f), DType::BF16, {Cout, Cin, 3, 3});
  auto b = DevTensor::make(randn_fast(size_t(Cout), seed + 2), DType::BF16, {Cout});
  ops::Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  if (wan_down) p.pad_bottom = p.pad_right = 1;
  else p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  const int64_t Ho = (H + p.pad_top + p.pad_bottom - 3) / stride + 1, Wo = (W + p.pad_left + p.pad_right - 3) / stride + 1;
  std::vector<int64_t> ys = image ? std::vector<int64_t>{Cout, Ho, Wo} : std::vector<int64_t>{Cout, T, Ho, Wo};
  auto y = DevTensor::poisoned(DType::BF16, ys);
  p.x = x.t; p.w = w.t; p.b = b.t; p.y = y.t; p.upsample = up;
  ops::conv2d(p);
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(y.t.numel())), xh = x.host, wh = w.host, bh = b.host;
  ops::Conv2dParams r = p;
  r.x = cpu_view(xh, xs); r.w = cpu_view(wh, {Cout, Cin, 3, 3}); r.b = cpu_view(bh, {Cout}); r.y = cpu_view(ref, ys);
  ops::conv2d(r);
  char what[128];
  std::snprintf(what, sizeof what, "conv2d %lld→%lld T%lld %lldx%lld stride %lld %s%s%s", (long long)Cin, (long long)Cout, (long long)T,
                (long long)H, (long long)W, (long long)stride, wan_down ? "pad r/b 1" : "pad 1", image ? " image" : "",
                up > 1 ? " (x upsampled ×2 in the op)" : "");
  report(what, compare_bf16(y.download(), ref, 1.f, 1e-4f * float(rms(ref)) + 1e-6f), y);
}

void run_rms(int64_t C, std::vector<int64_t> rest, bool bias, bool inplace, uint64_t seed, bool silu = false) {
  std::vector<int64_t> shape{C};
  shape.insert(shape.end(), rest.begin(), rest.end());
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<float> xv = randn_fast(size_t(n), seed, 2.f);
  if (n > C) for (int64_t c = 0; c < C; ++c) xv[size_t(c * (n / C))] = 0.f;  // an all-zero position: eps path
  auto x = DevTensor::make(xv, DType::BF16, shape);
  auto g = DevTensor::make(randn_fast(size_t(C), seed + 1, 1.f), DType::F32, {C, 1, 1, 1});
  auto b = DevTensor::make(randn_fast(size_t(C), seed + 2, 0.3f), DType::F32, {C});
  auto y = DevTensor::poisoned(DType::BF16, shape);
  ops::ChannelRmsNormParams p;
  p.x = x.t; p.gamma = g.t; p.y = inplace ? x.t : y.t;
  p.silu = silu;
  if (bias) p.bias = b.t;
  std::vector<float> ref(static_cast<size_t>(n)), xh = x.host, gh = g.host, bh = b.host;
  ops::channel_rms_norm(p);
  cuda::synchronize();
  ops::ChannelRmsNormParams r = p;
  r.x = cpu_view(xh, shape); r.gamma = cpu_view(gh, {C}); r.bias = bias ? cpu_view(bh, {C}) : Tensor{}; r.y = cpu_view(ref, shape);
  ops::channel_rms_norm(r);
  char what[128];
  std::snprintf(what, sizeof what, "channel_rms_norm C%lld N%lld%s%s%s", (long long)C, (long long)(n / C), bias ? " +bias" : "",
                inplace ? " in place" : "", silu ? " +silu" : "");
  report(what, compare_bf16((inplace ? x : y).download(), ref, 1.f, 1e-6f), inplace ? x : y);
}

void run_upsample(std::vector<int64_t> shape, int64_t fh, int64_t fw, uint64_t seed) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  auto x = DevTensor::make(randn_fast(size_t(n), seed), DType::BF16, shape);
  std::vector<int64_t> ys = shape;
  ys[ys.size() - 2] *= fh;
  ys[ys.size() - 1] *= fw;
  auto y = DevTensor::poisoned(DType::BF16, ys);
  ops::upsample_nearest({x.t, y.t, fh, fw});
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(y.t.numel())), xh = x.host;
  ops::upsample_nearest({cpu_view(xh, shape), cpu_view(ref, ys), fh, fw});
  char what[96];
  std::snprintf(what, sizeof what, "upsample_nearest %s ×%lld×%lld", x.t.shape_str().c_str(), (long long)fh, (long long)fw);
  report(what, compare_bf16(y.download(), ref, 0.f, 0.f), y);
}

void run_transpose(int64_t R, int64_t C, uint64_t seed) {
  auto x = DevTensor::make(randn_fast(size_t(R * C), seed), DType::BF16, {R, C});
  auto y = DevTensor::poisoned(DType::BF16, {C, R});
  ops::transpose2d({x.t, y.t});
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(R * C)), xh = x.host;
  ops::transpose2d({cpu_view(xh, {R, C}), cpu_view(ref, {C, R})});
  char what[96];
  std::snprintf(what, sizeof what, "transpose2d [%lld,%lld]", (long long)R, (long long)C);
  report(what, compare_bf16(y.download(), ref, 0.f, 0.f), y);
}

void run_mul(int64_t n, uint64_t seed) {
  auto a = DevTensor::make(randn_fast(size_t(n), seed, 2.f), DType::BF16, {n});
  auto b = DevTensor::make(randn_fast(size_t(n), seed + 1, 2.f), DType::BF16, {n});
  auto y = DevTensor::poisoned(DType::BF16, {n});
  ops::mul({a.t, b.t, y.t});
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(n)), ah = a.host, bh = b.host;
  ops::mul({cpu_view(ah, {n}), cpu_view(bh, {n}), cpu_view(ref, {n})});
  char what[64];
  std::snprintf(what, sizeof what, "mul [%lld]", (long long)n);
  report(what, compare_bf16(y.download(), ref, 1.f, 0.f), y);
}

void run_attention(int64_t Lq, int64_t Lk, int64_t H, int64_t d, float scale, bool bias, bool mask, uint64_t seed) {
  const float qs = scale == 1.f ? 1.f / std::sqrt(std::sqrt(float(d))) : 1.f;  // keep T5-style logits O(1)
  auto q = DevTensor::make(randn_fast(size_t(Lq * H * d), seed, qs), DType::BF16, {Lq, H, d});
  auto k = DevTensor::make(randn_fast(size_t(Lk * H * d), seed + 1, qs), DType::BF16, {Lk, H, d});
  auto v = DevTensor::make(randn_fast(size_t(Lk * H * d), seed + 2), DType::BF16, {Lk, H, d});
  auto rb = DevTensor::make(randn_fast(size_t(H * (Lq + Lk - 1)), seed + 3, 1.f), DType::F32, {H, Lq + Lk - 1});
  std::vector<int32_t> mh(size_t(Lk), 1);
  for (int64_t j = 0; j < Lk; ++j) if (mask && (j % 3 == 1 || j >= Lk - Lk / 4)) mh[size_t(j)] = 0;
  cuda::DeviceBuffer md(size_t(Lk) * 4);
  TW_CUDA_CHECK(cudaMemcpy(md.get(), mh.data(), size_t(Lk) * 4, cudaMemcpyHostToDevice));
  auto o = DevTensor::poisoned(DType::BF16, {Lq, H, d});
  ops::AttentionRelBiasParams p;
  p.q = q.t; p.k = k.t; p.v = v.t; p.o = o.t; p.scale = scale;
  if (bias) p.rel_bias = rb.t;
  if (mask) p.key_mask = md.view(DType::I32, {Lk});
  ops::attention_rel_bias(p);
  cuda::synchronize();
  std::vector<float> ref(static_cast<size_t>(Lq * H * d)), qh = q.host, kh = k.host, vh = v.host, bh = rb.host;
  ops::AttentionRelBiasParams r;
  r.q = cpu_view(qh, {Lq, H, d}); r.k = cpu_view(kh, {Lk, H, d}); r.v = cpu_view(vh, {Lk, H, d}); r.o = cpu_view(ref, {Lq, H, d});
  r.scale = scale;
  if (bias) r.rel_bias = cpu_view(bh, {H, Lq + Lk - 1});
  if (mask) r.key_mask = Tensor::view(mh.data(), DType::I32, {Lk});
  ops::attention_rel_bias(r);
  std::vector<float> got = o.download();
  const double e = rel_l2(got, ref);
  int64_t nan = 0;
  for (float g : got) nan += std::isnan(g) || std::isinf(g);
  std::printf("  attention_rel_bias Lq%lld Lk%lld h%lld d%lld scale %.3g%s%s: rel_l2 %.2e\n", (long long)Lq, (long long)Lk, (long long)H,
              (long long)d, scale, bias ? " bias" : "", mask ? " mask" : "", e);
  TW_CHECK_MSG(nan == 0, "attention_rel_bias: %lld non-finite outputs", (long long)nan);
  TW_CHECK_MSG(e <= 1e-2, "attention_rel_bias: rel L2 %.3g > 1e-2", e);
  TW_CHECK_MSG(o.guard_intact(), "attention_rel_bias: wrote past the end");
}

}  // namespace

int main() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("conv_cuda_test: skipped (no GPU visible)\n");
    return 0;
  }
  std::printf("channels-last conv kernel: %s\n", cuda::conv_wgmma_available() ? "wgmma (sm_90a)" : "mma.sync");
  try {
    // CausalConv3d: first chunk (pad_t 2), later chunks (cache 2 frames / 1 frame + pad 1), odd shapes.
    run_conv3d({5, 7, 3, 0, 9, 11, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1}, 1);
    run_conv3d({12, 8, 4, 2, 10, 13, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 2);
    run_conv3d({12, 8, 1, 1, 10, 13, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 3);
    run_conv3d({3, 96, 1, 0, 17, 19, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1}, 4);   // RGB in: K = 81 (scalar weight path)
    run_conv3d({96, 3, 4, 2, 16, 24, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 5);   // decoder head: 3 out
    run_conv3d({96, 192, 2, 2, 12, 20, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 6);  // Wan widths (96-row tiles)
    run_conv3d({192, 384, 2, 0, 6, 10, 1, 1, 1}, 7);                          // shortcut 1×1×1, no pad
    run_conv3d({16, 40, 3, 1, 5, 7, 3, 1, 1, 2, 1, 1, 0}, 8);                 // down3d time_conv: stride 2, cache 1
    run_conv3d({24, 48, 2, 2, 6, 9, 3, 1, 1, 1, 1, 1, 0}, 9);                 // up3d time_conv
    { ConvCase c{8, 16, 2, 0, 7, 9, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1}; c.kind = 1; c.bias = false; run_conv3d(c, 10); }  // ones
    { ConvCase c{8, 16, 2, 0, 7, 9, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1}; c.kind = 2; run_conv3d(c, 11); }                   // arange-like
    run_conv3d({384, 384, 1, 2, 15, 26, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 12);  // Wan middle width, 1-frame chunk
    // Every decoder width through the sm_90 warpgroup-MMA kernel (Cin % 32, Cout % 96; on other GPUs or
    // with TW_CONV_KERNEL=mma the same cases run the mma.sync kernel): full and partial 256/128-position
    // tiles, N not a multiple of 8 (scalar stores), first chunk (pad_t 2), 1×1×1 shortcuts, the 3×1×1
    // time conv with 768 outputs, structured inputs.
    run_conv3d({96, 96, 4, 2, 30, 52, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 13);    // 6240 positions, %8
    run_conv3d({192, 192, 2, 2, 13, 19, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 14);  // 494 positions, odd
    run_conv3d({384, 384, 1, 0, 7, 9, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1}, 15);    // first chunk, 63 positions
    run_conv3d({192, 384, 3, 2, 11, 17, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 16);  // up stage 1 residual conv
    run_conv3d({384, 768, 2, 2, 6, 10, 3, 1, 1, 1, 1, 1, 0}, 17);               // up3d time_conv
    run_conv3d({96, 96, 3, 0, 9, 13, 1, 1, 1}, 18);                             // 1×1×1, K = 96 (3 sub-tiles)
    { ConvCase c{96, 96, 2, 2, 10, 14, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}; c.kind = 1; c.bias = false; run_conv3d(c, 19); }  // ones
    { ConvCase c{192, 96, 2, 0, 9, 15, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1}; c.kind = 2; run_conv3d(c, 23); }                 // arange-like
    run_conv2d(384, 192, 2, 16, 26, 1, false, false, 24);  // Wan up3d conv (C → C/2)
    // Cout ≤ 4 direct conv (conv3d_narrow.cu): partial 8×32 tiles in H and W, first chunk, 1–4 outputs.
    run_conv3d({96, 3, 1, 0, 17, 35, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1}, 25);
    run_conv3d({32, 4, 3, 2, 9, 70, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}, 26);
    run_conv3d({64, 1, 2, 1, 8, 32, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 27);
    { ConvCase c{96, 3, 2, 2, 9, 33, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}; c.kind = 2; run_conv3d(c, 28); }  // arange-like
    // Fused residual (the decoder's skip adds) on every kernel: wgmma 96/192 wide, direct, gather.
    { ConvCase c{96, 96, 2, 2, 13, 19, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}; c.residual = true; run_conv3d(c, 29); }
    { ConvCase c{192, 192, 1, 2, 10, 14, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}; c.residual = true; run_conv3d(c, 37); }
    { ConvCase c{96, 3, 2, 2, 9, 33, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}; c.residual = true; run_conv3d(c, 38); }
    { ConvCase c{12, 8, 4, 2, 10, 13, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1}; c.residual = true; run_conv3d(c, 39); }
    run_conv2d(96, 96, 2, 30, 52, 2, true, false, 20);   // Wan downsample2d
    run_conv2d(7, 5, 1, 9, 11, 2, true, true, 21);       // odd, image
    run_conv2d(192, 96, 4, 16, 26, 1, false, false, 22);  // Wan upsample conv (C → C/2)
    // The decoder's channels-last hand-off: norm + SiLU writing the padded input, the conv reading it
    // (wgmma 96/192 wide, direct head, mma.sync for Cout 32), and the upsample folded into conv2d.
    run_rms_cl(96, 4, 16, 24, 6, 2, 1, 50);     // chunk with 2 cached frames in front
    run_rms_cl(384, 1, 15, 24, 3, 2, 1, 51);    // first chunk: partial 64-position block
    run_rms_cl(192, 2, 30, 52, 3, 1, 1, 52);
    run_rms_cl(32, 3, 8, 8, 3, 0, 0, 53);       // no border
    run_conv3d_cl(96, 96, 6, 18, 26, 3, false, 54);
    run_conv3d_cl(96, 96, 6, 15, 21, 3, true, 55);     // + residual, partial tiles
    run_conv3d_cl(192, 192, 4, 12, 19, 3, true, 56);
    run_conv3d_cl(384, 384, 3, 9, 11, 3, false, 57);
    run_conv3d_cl(96, 3, 6, 11, 35, 3, false, 58);     // RGB head (direct kernel)
    run_conv3d_cl(384, 32, 3, 9, 12, 3, false, 59);    // encoder head width (mma.sync channels-last)
    run_conv2d(384, 192, 2, 32, 52, 1, false, false, 60, 2);
    run_conv2d(192, 96, 3, 30, 46, 1, false, false, 61, 2);
    run_conv2d(64, 40, 1, 18, 22, 1, false, true, 62, 2);   // image, Cout not a multiple of 96
    run_rms(96, {4, 16, 24}, false, false, 30);
    run_rms(384, {1, 15, 26}, false, true, 31);
    run_rms(5, {3, 7}, true, false, 32);
    run_rms(96, {4, 16, 24}, false, false, 33, true);   // fused SiLU (the decoder's norm → SiLU)
    run_rms(5, {3, 7}, true, true, 34, true);
    run_rms(384, {1, 15, 24}, false, true, 35);         // vector path, partial 64-position block, in place
    run_rms(384, {1, 60, 104}, false, false, 36, true); // the decoder's middle width at 60×104
    run_upsample({12, 3, 7, 9}, 2, 2, 40);
    run_upsample({5, 11, 13}, 3, 2, 41);
    run_upsample({16, 2, 6, 8}, 2, 2, 42);      // vectorized ×2×2 path
    run_upsample({192, 2, 30, 52}, 2, 2, 43);   // Wan-shaped
    run_transpose(6240, 384, 50);
    run_transpose(37, 53, 51);
    run_mul(1 << 20, 60);
    run_mul(1001, 61);
    run_attention(37, 37, 4, 64, 1.f, true, true, 70);     // T5 style: bias + mask, odd length
    run_attention(512, 512, 8, 64, 1.f, true, false, 71);
    run_attention(300, 300, 1, 384, 1.f / std::sqrt(384.f), false, false, 72);  // VAE middle attention
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  std::printf("conv_cuda_test: %s\n", twtest::failures() ? "FAILED" : "ok");
  return twtest::failures() ? 1 : 0;
}
