// conv3d / conv2d: direct convolution with zero padding (time: in front only) and an optional cache
// of previous frames —  torch `F.conv3d(F.pad(torch.cat([cache, x], 2), pad), w, b, stride)` and
// `F.conv2d(F.pad(x, pad), w, b, stride)` per frame, in fp32.
// CPU reference: weights upcast once per call; every output row accumulates fp32 products in fp32
// in a fixed (ci, kt, kh, kw) order (4 output channels per pass share the input loads), then adds
// the bias (and the residual). Threads split output rows, so the result does not depend on the thread count.
#include <algorithm>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops_conv.h"

namespace tw::ops {
namespace {

struct ConvGeom {
  int64_t Cin, Cout, T, Tc, H, W, kt, kh, kw, To, Ho, Wo;
};

// Output channels computed together: each input row is loaded once for kCo accumulator rows.
constexpr int64_t kCo = 4;

void conv_cpu(const Conv3dParams& p, const ConvGeom& g) {
  std::vector<float> wf(size_t(g.Cout * g.Cin * g.kt * g.kh * g.kw));
  ref::load_f32(p.w, 0, int64_t(wf.size()), wf.data());
  std::vector<float> bias(size_t(g.Cout), 0.f);
  if (!p.b.empty()) ref::load_f32(p.b, 0, g.Cout, bias.data());
  const float* x = p.x.ptr<float>();
  const float* cache = p.cache.empty() ? nullptr : p.cache.ptr<float>();
  float* y = p.y.ptr<float>();
  const float* res = p.residual.empty() ? nullptr : p.residual.ptr<float>();
  const int64_t HW = g.H * g.W, taps = g.kt * g.kh * g.kw, K = g.Cin * taps;
  // Frame f of the logical sequence [zeros(pad_t) | cache | x] for channel ci; nullptr = zeros.
  auto frame = [&](int64_t ci, int64_t f) -> const float* {
    if (f < p.pad_t) return nullptr;
    f -= p.pad_t;
    if (f < g.Tc) return cache + (ci * g.Tc + f) * HW;
    return x + (ci * g.T + (f - g.Tc)) * HW;
  };
  const int64_t co_blocks = (g.Cout + kCo - 1) / kCo;
#pragma omp parallel
  {
    std::vector<float> acc(size_t(kCo * g.Wo));
#pragma omp for collapse(3) schedule(static)
    for (int64_t cb = 0; cb < co_blocks; ++cb) {
      for (int64_t to = 0; to < g.To; ++to) {
        for (int64_t ho = 0; ho < g.Ho; ++ho) {
          const int64_t co0 = cb * kCo, nco = std::min(kCo, g.Cout - co0);
          std::fill(acc.begin(), acc.end(), 0.f);
          float* a0 = acc.data();
          float* a1 = a0 + g.Wo;
          float* a2 = a1 + g.Wo;
          float* a3 = a2 + g.Wo;
          for (int64_t ci = 0; ci < g.Cin; ++ci) {
            for (int64_t dt = 0; dt < g.kt; ++dt) {
              const float* fr = frame(ci, to * p.stride_t + dt);
              if (!fr) continue;
              for (int64_t dh = 0; dh < g.kh; ++dh) {
                const int64_t hin = ho * p.stride_h + dh - p.pad_top;
                if (hin < 0 || hin >= g.H) continue;
                const float* row = fr + hin * g.W;
                const int64_t tap = ci * taps + (dt * g.kh + dh) * g.kw;
                for (int64_t dw = 0; dw < g.kw; ++dw) {
                  // weights of this tap for the kCo output channels (0 past Cout)
                  float w[kCo];
                  for (int64_t j = 0; j < kCo; ++j) w[j] = j < nco ? wf[size_t((co0 + j) * K + tap + dw)] : 0.f;
                  const int64_t off = dw - p.pad_left;  // win = wo·sw + off
                  const int64_t lo = off >= 0 ? 0 : (-off + p.stride_w - 1) / p.stride_w;
                  const int64_t hi = std::min(g.Wo, (g.W - 1 - off) < 0 ? 0 : (g.W - 1 - off) / p.stride_w + 1);
                  if (p.stride_w == 1) {
                    const float* r = row + off;
                    for (int64_t wo = lo; wo < hi; ++wo) {
                      const float v = r[wo];
                      a0[wo] += w[0] * v; a1[wo] += w[1] * v; a2[wo] += w[2] * v; a3[wo] += w[3] * v;
                    }
                  } else {
                    for (int64_t wo = lo; wo < hi; ++wo) {
                      const float v = row[wo * p.stride_w + off];
                      a0[wo] += w[0] * v; a1[wo] += w[1] * v; a2[wo] += w[2] * v; a3[wo] += w[3] * v;
                    }
                  }
                }
              }
            }
          }
          for (int64_t j = 0; j < nco; ++j) {
            const int64_t row = (((co0 + j) * g.To + to) * g.Ho + ho) * g.Wo;
            float* yr = y + row;
            const float* aj = acc.data() + j * g.Wo;
            for (int64_t wo = 0; wo < g.Wo; ++wo) yr[wo] = aj[wo] + bias[size_t(co0 + j)] + (res ? res[row + wo] : 0.f);
          }
        }
      }
    }
  }
}

void check_pads(const char* op, int64_t st, int64_t sh, int64_t sw, std::initializer_list<int64_t> pads) {
  check(st >= 1 && sh >= 1 && sw >= 1, op, "strides must be >= 1");
  for (int64_t v : pads) check(v >= 0, op, "paddings must be >= 0");
}

}  // namespace

int64_t conv_out_size(int64_t n, int64_t pad, int64_t k, int64_t stride, const char* what) {
  if (n + pad < k)
    throw Error(std::string("conv: ") + what + " extent " + std::to_string(n) + " + padding " + std::to_string(pad) +
                " is smaller than the kernel (" + std::to_string(k) + ")");
  return (n + pad - k) / stride + 1;
}

void conv3d(const Conv3dParams& p) {
  const char* op = "conv3d";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"cache", &p.cache}, {"w", &p.w}, {"b", &p.b}, {"y", &p.y}, {"residual", &p.residual}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.w, op, "w");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 4, op, "x must be 4-D [Cin, T, H, W], got " + p.x.shape_str());
  check(p.w.ndim == 5, op, "w must be 5-D [Cout, Cin, kt, kh, kw], got " + p.w.shape_str());
  check_pads(op, p.stride_t, p.stride_h, p.stride_w, {p.pad_t, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right});
  ConvGeom g{};
  if (p.x_padded_cl) {
    // x [Tp, Hp, Wp, Cin] already holds the padded sequence: no cache, no further padding.
    check(p.cache.empty() && p.pad_t == 0 && p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0, op,
          "with x_padded_cl the padding and the cache are already in x: cache must be empty and every pad 0");
    g.Cin = p.x.size(3), g.T = p.x.size(0), g.H = p.x.size(1), g.W = p.x.size(2);
  } else {
    g.Cin = p.x.size(0), g.T = p.x.size(1), g.H = p.x.size(2), g.W = p.x.size(3);
  }
  g.Cout = p.w.size(0), g.kt = p.w.size(2), g.kh = p.w.size(3), g.kw = p.w.size(4);
  check(p.w.size(1) == g.Cin, op, "w " + p.w.shape_str() + " expects " + std::to_string(p.w.size(1)) +
                                      " input channels, x " + p.x.shape_str() + " has " + std::to_string(g.Cin));
  g.Tc = 0;
  if (!p.cache.empty()) {
    check(p.cache.ndim == 4, op, "cache must be 4-D [Cin, Tc, H, W], got " + p.cache.shape_str());
    g.Tc = p.cache.size(1);
    check_shape(p.cache, {g.Cin, g.Tc, g.H, g.W}, op, "cache");
    check_contiguous(p.cache, op, "cache");
  }
  if (!p.b.empty()) check(p.b.numel() == g.Cout, op, "b " + p.b.shape_str() + " must have Cout elements");
  g.To = conv_out_size(g.T + g.Tc, p.pad_t, g.kt, p.stride_t, "time");
  g.Ho = conv_out_size(g.H, p.pad_top + p.pad_bottom, g.kh, p.stride_h, "height");
  g.Wo = conv_out_size(g.W, p.pad_left + p.pad_right, g.kw, p.stride_w, "width");
  check_shape(p.y, {g.Cout, g.To, g.Ho, g.Wo}, op, "y");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  if (!p.residual.empty()) {
    check_shape(p.residual, {g.Cout, g.To, g.Ho, g.Wo}, op, "residual");
    check_contiguous(p.residual, op, "residual");
    check(p.residual.dtype == p.y.dtype, op, "residual must have y's dtype");
    check(p.residual.data != p.y.data, op, "residual must not alias y");
  }
  TW_DISPATCH_CUDA(dev, op, conv3d, p);
  check_dtype(p.x, DType::F32, op, "x");
  if (!p.cache.empty()) check_dtype(p.cache, DType::F32, op, "cache");
  check_dtype(p.y, DType::F32, op, "y");
  check_float_weight(p.w, op, "w");
  if (!p.b.empty()) check_float_weight(p.b, op, "b");
  check(p.y.data != p.x.data && (p.cache.empty() || p.y.data != p.cache.data), op, "y must not alias x or cache");
  if (p.x_padded_cl) {
    // The same conv on a channel-first copy of the padded input.
    const int64_t P = g.T * g.H * g.W;
    std::vector<float> xc(size_t(g.Cin * P));
    const float* x = p.x.ptr<float>();
    for (int64_t i = 0; i < P; ++i)
      for (int64_t c = 0; c < g.Cin; ++c) xc[size_t(c * P + i)] = x[i * g.Cin + c];
    Conv3dParams q = p;
    q.x_padded_cl = false;
    q.x = Tensor::view(xc.data(), DType::F32, {g.Cin, g.T, g.H, g.W});
    conv3d(q);
    return;
  }
  conv_cpu(p, g);
}

void conv2d(const Conv2dParams& p) {
  const char* op = "conv2d";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"w", &p.w}, {"b", &p.b}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.w, op, "w");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 3 || p.x.ndim == 4, op, "x must be [Cin, H, W] or [Cin, T, H, W], got " + p.x.shape_str());
  check(p.w.ndim == 4, op, "w must be 4-D [Cout, Cin, kh, kw], got " + p.w.shape_str());
  check(p.y.ndim == p.x.ndim, op, "y " + p.y.shape_str() + " must have the rank of x " + p.x.shape_str());
  check_contiguous(p.w, op, "w");
  check_pads(op, 1, p.stride_h, p.stride_w, {p.pad_top, p.pad_bottom, p.pad_left, p.pad_right});
  check(p.upsample >= 1, op, "upsample must be >= 1");
  TW_DISPATCH_CUDA(dev, op, conv2d, p);
  if (p.upsample > 1) {
    // Reference: materialize the upsampled input, then the plain conv.
    check_dtype(p.x, DType::F32, op, "x");
    std::vector<int64_t> us = p.x.shape_vec();
    us[us.size() - 1] *= p.upsample, us[us.size() - 2] *= p.upsample;
    std::vector<float> u(size_t(p.x.numel() * p.upsample * p.upsample));
    const Tensor ut = Tensor::view(u.data(), DType::F32, us);
    upsample_nearest({p.x, ut, p.upsample, p.upsample});
    Conv2dParams q = p;
    q.x = ut, q.upsample = 1;
    conv2d(q);
    return;
  }
  // A per-frame 2-D conv is a 3-D conv with a temporal kernel of 1.
  const bool image = p.x.ndim == 3;
  Conv3dParams q;
  q.x = image ? p.x.reshape({p.x.size(0), 1, p.x.size(1), p.x.size(2)}) : p.x;
  q.y = image ? p.y.reshape({p.y.size(0), 1, p.y.size(1), p.y.size(2)}) : p.y;
  q.w = p.w.reshape({p.w.size(0), p.w.size(1), 1, p.w.size(2), p.w.size(3)});
  q.b = p.b;
  q.stride_h = p.stride_h, q.stride_w = p.stride_w;
  q.pad_top = p.pad_top, q.pad_bottom = p.pad_bottom, q.pad_left = p.pad_left, q.pad_right = p.pad_right;
  conv3d(q);
}

}  // namespace tw::ops
