// The VAE/T5 ops of ops_conv.h and ops_extra.h against naive loops written from the PyTorch
// definitions (explicitly padded input, no shortcuts), plus structured and error cases.
#include <cmath>
#include <cstdio>
#include <vector>

#include "tw/ops.h"
#include "tw/ops_conv.h"
#include "tw/ops_extra.h"
#include "tw_test.h"

using namespace tw;
using twtest::randn;
using twtest::rel_l2;

namespace {

Tensor view(std::vector<float>& v, std::vector<int64_t> shape) { return Tensor::view(v.data(), DType::F32, shape); }

// torch: F.conv3d(F.pad(cat([cache, x], T), (l, r, top, bottom, pt, 0)), w, b, stride)
std::vector<float> naive_conv3d(const std::vector<float>& x, const std::vector<float>& cache, int64_t Cin, int64_t T, int64_t Tc,
                                int64_t H, int64_t W, const std::vector<float>& w, const std::vector<float>& b, int64_t Cout,
                                int64_t kt, int64_t kh, int64_t kw, int64_t st, int64_t sh, int64_t sw, int64_t pt,
                                int64_t top, int64_t bottom, int64_t left, int64_t right, int64_t& To, int64_t& Ho, int64_t& Wo) {
  const int64_t Tp = pt + Tc + T, Hp = H + top + bottom, Wp = W + left + right;
  std::vector<double> xp(size_t(Cin * Tp * Hp * Wp), 0.0);
  for (int64_t c = 0; c < Cin; ++c)
    for (int64_t t = 0; t < Tc + T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t ww = 0; ww < W; ++ww) {
          const float v = t < Tc ? cache[size_t(((c * Tc + t) * H + h) * W + ww)] : x[size_t(((c * T + t - Tc) * H + h) * W + ww)];
          xp[size_t(((c * Tp + pt + t) * Hp + h + top) * Wp + ww + left)] = v;
        }
  To = (Tp - kt) / st + 1, Ho = (Hp - kh) / sh + 1, Wo = (Wp - kw) / sw + 1;
  std::vector<float> y(size_t(Cout * To * Ho * Wo));
  for (int64_t co = 0; co < Cout; ++co)
    for (int64_t t = 0; t < To; ++t)
      for (int64_t h = 0; h < Ho; ++h)
        for (int64_t ww = 0; ww < Wo; ++ww) {
          double s = b.empty() ? 0.0 : b[size_t(co)];
          for (int64_t ci = 0; ci < Cin; ++ci)
            for (int64_t a = 0; a < kt; ++a)
              for (int64_t bb = 0; bb < kh; ++bb)
                for (int64_t c = 0; c < kw; ++c)
                  s += double(w[size_t((((co * Cin + ci) * kt + a) * kh + bb) * kw + c)]) *
                       xp[size_t(((ci * Tp + t * st + a) * Hp + h * sh + bb) * Wp + ww * sw + c)];
          y[size_t(((co * To + t) * Ho + h) * Wo + ww)] = float(s);
        }
  return y;
}

void test_conv3d_vs_naive() {
  struct Case { int64_t Cin, Cout, T, Tc, H, W, kt, kh, kw, st, sh, sw, pt, top, bottom, left, right; bool bf16, bias; };
  const Case cases[] = {
      {3, 5, 4, 0, 7, 9, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1, false, true},   // CausalConv3d(k3, p1), first chunk
      {4, 6, 1, 2, 6, 5, 3, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, false, true},   // one frame with a 2-frame cache
      {4, 6, 1, 1, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true, true},    // cache of 1 frame + 1 zero frame, bf16 w
      {5, 5, 4, 1, 3, 4, 3, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, false, true},   // down3d time conv, stride 2
      {6, 12, 3, 2, 4, 4, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, false, false}, // up3d time conv with cache
      {3, 4, 2, 0, 9, 8, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1, false, true},   // downsample: pad r/b 1, stride 2
      {7, 3, 2, 0, 5, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, false, true},   // 1×1×1 shortcut
  };
  uint64_t seed = 1;
  for (const Case& c : cases) {
    auto x = randn(size_t(c.Cin * c.T * c.H * c.W), seed++);
    auto cache = randn(size_t(c.Cin * c.Tc * c.H * c.W), seed++);
    auto w = randn(size_t(c.Cout * c.Cin * c.kt * c.kh * c.kw), seed++, 0.3f);
    auto b = c.bias ? randn(size_t(c.Cout), seed++) : std::vector<float>{};
    std::vector<uint16_t> wb(w.size());
    if (c.bf16) for (size_t i = 0; i < w.size(); ++i) { wb[i] = f32_to_bf16(w[i]); w[i] = bf16_to_f32(wb[i]); }
    int64_t To, Ho, Wo;
    auto ref = naive_conv3d(x, cache, c.Cin, c.T, c.Tc, c.H, c.W, w, b, c.Cout, c.kt, c.kh, c.kw, c.st, c.sh, c.sw, c.pt, c.top,
                            c.bottom, c.left, c.right, To, Ho, Wo);
    std::vector<float> y(ref.size(), NAN);
    ops::Conv3dParams p;
    p.x = view(x, {c.Cin, c.T, c.H, c.W});
    if (c.Tc) p.cache = view(cache, {c.Cin, c.Tc, c.H, c.W});
    p.w = c.bf16 ? Tensor::view(wb.data(), DType::BF16, {c.Cout, c.Cin, c.kt, c.kh, c.kw}) : view(w, {c.Cout, c.Cin, c.kt, c.kh, c.kw});
    if (c.bias) p.b = view(b, {c.Cout});
    p.y = view(y, {c.Cout, To, Ho, Wo});
    p.stride_t = c.st, p.stride_h = c.sh, p.stride_w = c.sw, p.pad_t = c.pt;
    p.pad_top = c.top, p.pad_bottom = c.bottom, p.pad_left = c.left, p.pad_right = c.right;
    ops::conv3d(p);
    const double err = rel_l2(y.data(), ref.data(), y.size());
    TW_CHECK_MSG(err < 1e-6, "conv3d case Cin=%ld Cout=%ld: rel err %g", long(c.Cin), long(c.Cout), err);
    // fused residual: y = conv + b + r
    auto r = randn(ref.size(), seed++);
    std::vector<float> yr(ref.size(), NAN), refr(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) refr[i] = ref[i] + r[i];
    p.y = view(yr, {c.Cout, To, Ho, Wo});
    p.residual = view(r, {c.Cout, To, Ho, Wo});
    ops::conv3d(p);
    const double err_r = rel_l2(yr.data(), refr.data(), yr.size());
    TW_CHECK_MSG(err_r < 1e-6, "conv3d + residual case Cin=%ld Cout=%ld: rel err %g", long(c.Cin), long(c.Cout), err_r);
  }
}

// Chunked causal conv with the 2-frame cache equals one causal conv over the whole sequence.
void test_causal_chunks_equal_full() {
  const int64_t C = 3, T = 9, H = 5, W = 4, Co = 4;
  auto x = randn(size_t(C * T * H * W), 11);
  auto w = randn(size_t(Co * C * 27), 12, 0.3f);
  auto b = randn(size_t(Co), 13);
  std::vector<float> full(size_t(Co * T * H * W));
  ops::Conv3dParams p;
  p.x = view(x, {C, T, H, W}), p.w = view(w, {Co, C, 3, 3, 3}), p.b = view(b, {Co}), p.y = view(full, {Co, T, H, W});
  p.pad_t = 2, p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  ops::conv3d(p);
  // chunks of 1, 4, 4 frames (the encoder's), cache = last 2 input frames (fewer at the start)
  std::vector<float> got;
  std::vector<float> cache;
  int64_t Tc = 0;
  for (auto [t0, n] : {std::pair<int64_t, int64_t>{0, 1}, {1, 4}, {5, 4}}) {
    std::vector<float> xc(size_t(C * n * H * W)), yc(size_t(Co * n * H * W));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < H * W; ++i) xc[size_t((c * n + t) * H * W + i)] = x[size_t((c * T + t0 + t) * H * W + i)];
    ops::Conv3dParams q = p;
    q.x = view(xc, {C, n, H, W});
    q.cache = Tc ? view(cache, {C, Tc, H, W}) : Tensor{};
    q.pad_t = 2 - Tc;
    q.y = view(yc, {Co, n, H, W});
    ops::conv3d(q);
    std::vector<float> next(size_t(C * 2 * H * W));  // the last two frames of cache ‖ chunk
    const int64_t tot = Tc + n;
    for (int64_t c = 0; c < C && tot >= 2; ++c)
      for (int64_t k = 0; k < 2; ++k) {
        const int64_t f = tot - 2 + k;
        for (int64_t i = 0; i < H * W; ++i)
          next[size_t((c * 2 + k) * H * W + i)] = f < Tc ? cache[size_t((c * Tc + f) * H * W + i)] : xc[size_t((c * n + f - Tc) * H * W + i)];
      }
    if (tot >= 2) { cache = next; Tc = 2; } else { cache = xc; Tc = 1; }
    // gather into [Co, T] order
    if (got.empty()) got.assign(full.size(), NAN);
    for (int64_t c = 0; c < Co; ++c)
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < H * W; ++i) got[size_t((c * T + t0 + t) * H * W + i)] = yc[size_t((c * n + t) * H * W + i)];
  }
  const double err = rel_l2(got.data(), full.data(), full.size());
  TW_CHECK_MSG(err == 0.0, "chunked causal conv differs from the full conv: %g", err);
}

void test_conv2d() {
  const int64_t C = 4, T = 2, H = 9, W = 7, Co = 5;
  auto x = randn(size_t(C * T * H * W), 21);
  auto w = randn(size_t(Co * C * 9), 22, 0.3f);
  auto b = randn(size_t(Co), 23);
  int64_t To, Ho, Wo;
  auto ref = naive_conv3d(x, {}, C, T, 0, H, W, w, b, Co, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1, To, Ho, Wo);
  std::vector<float> y(ref.size());
  ops::Conv2dParams p;
  p.x = view(x, {C, T, H, W}), p.w = view(w, {Co, C, 3, 3}), p.b = view(b, {Co}), p.y = view(y, {Co, T, Ho, Wo});
  p.stride_h = p.stride_w = 2, p.pad_bottom = p.pad_right = 1;
  ops::conv2d(p);
  TW_CHECK(rel_l2(y.data(), ref.data(), y.size()) < 1e-6);
  TW_CHECK(Ho == 4 && Wo == 3);
  // single image [C, H, W]
  std::vector<float> y1(size_t(Co * Ho * Wo));
  p.x = view(x, {C, H, W}), p.y = view(y1, {Co, Ho, Wo});
  ops::conv2d(p);
  auto ref1 = naive_conv3d(x, {}, C, 1, 0, H, W, w, b, Co, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1, To, Ho, Wo);
  TW_CHECK(rel_l2(y1.data(), ref1.data(), y1.size()) < 1e-6);
}

void test_upsample_and_transpose() {
  std::vector<float> x(2 * 3 * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  std::vector<float> y(2 * 6 * 8);
  ops::upsample_nearest({view(x, {2, 3, 4}), view(y, {2, 6, 8}), 2, 2});
  bool ok = true;
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 8; ++j) ok &= y[size_t((c * 6 + i) * 8 + j)] == x[size_t((c * 3 + i / 2) * 4 + j / 2)];
  TW_CHECK(ok);
  std::vector<float> t(x.size());
  ops::transpose2d({view(x, {6, 4}), view(t, {4, 6})});
  ok = true;
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 4; ++c) ok &= t[size_t(c * 6 + r)] == x[size_t(r * 4 + c)];
  TW_CHECK(ok);
}

void test_channel_rms_norm() {
  const int64_t C = 5, N = 150;
  auto x = randn(size_t(C * N), 31);
  for (int64_t c = 0; c < C; ++c) x[size_t(c * N + 7)] = 0.f;  // an all-zero pixel → eps path, output 0
  auto g = randn(size_t(C), 32);
  std::vector<float> y(x.size()), ref(x.size());
  for (int64_t n = 0; n < N; ++n) {
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[size_t(c * N + n)]) * x[size_t(c * N + n)];
    const double nrm = std::max(std::sqrt(ss), 1e-12);
    for (int64_t c = 0; c < C; ++c) ref[size_t(c * N + n)] = float(x[size_t(c * N + n)] / nrm * std::sqrt(double(C)) * g[size_t(c)]);
  }
  ops::channel_rms_norm({view(x, {C, 3, 50}), view(g, {C, 1, 1, 1}), {}, view(y, {C, 3, 50})});
  TW_CHECK(rel_l2(y.data(), ref.data(), y.size()) < 1e-6);
  TW_CHECK(y[7] == 0.f);
  // fused SiLU: silu(norm) in one pass
  {
    std::vector<float> ys(x.size()), rs(x.size());
    for (size_t i = 0; i < rs.size(); ++i) rs[i] = float(double(ref[i]) / (1.0 + std::exp(-double(ref[i]))));
    ops::ChannelRmsNormParams p{view(x, {C, N}), view(g, {C}), {}, view(ys, {C, N})};
    p.silu = true;
    ops::channel_rms_norm(p);
    TW_CHECK(rel_l2(ys.data(), rs.data(), ys.size()) < 1e-6);
    TW_CHECK(ys[7] == 0.f);
  }
  // in place
  ops::channel_rms_norm({view(x, {C, N}), view(g, {C}), {}, view(x, {C, N})});
  TW_CHECK(rel_l2(x.data(), ref.data(), x.size()) < 1e-6);
}

void test_attention_rel_bias() {
  const int64_t L = 37, Hh = 3, d = 8;
  auto q = randn(size_t(L * Hh * d), 41), k = randn(size_t(L * Hh * d), 42), v = randn(size_t(L * Hh * d), 43);
  auto bias = randn(size_t(Hh * (2 * L - 1)), 44);
  std::vector<int32_t> mask(size_t(L), 1);
  for (int64_t j = 30; j < L; ++j) mask[size_t(j)] = 0;
  mask[5] = 0;
  std::vector<float> o(q.size(), NAN), ref(q.size());
  for (int64_t h = 0; h < Hh; ++h)
    for (int64_t i = 0; i < L; ++i) {
      std::vector<double> s(static_cast<size_t>(L));
      double mx = -1e300;
      for (int64_t j = 0; j < L; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += double(q[size_t((i * Hh + h) * d + c)]) * k[size_t((j * Hh + h) * d + c)];
        s[size_t(j)] = mask[size_t(j)] ? dot + bias[size_t(h * (2 * L - 1) + j - i + L - 1)] : -3.4e38;
        mx = std::max(mx, s[size_t(j)]);
      }
      double sum = 0;
      for (auto& e : s) { e = std::exp(e - mx); sum += e; }
      for (int64_t c = 0; c < d; ++c) {
        double a = 0;
        for (int64_t j = 0; j < L; ++j) a += s[size_t(j)] * v[size_t((j * Hh + h) * d + c)];
        ref[size_t((i * Hh + h) * d + c)] = float(a / sum);
      }
    }
  ops::AttentionRelBiasParams p;
  p.q = view(q, {L, Hh, d}), p.k = view(k, {L, Hh, d}), p.v = view(v, {L, Hh, d}), p.o = view(o, {L, Hh, d});
  p.rel_bias = view(bias, {Hh, 2 * L - 1});
  p.key_mask = Tensor::view(mask.data(), DType::I32, {L});
  ops::attention_rel_bias(p);
  TW_CHECK(rel_l2(o.data(), ref.data(), o.size()) < 1e-6);
  // without bias and mask, scale 1/√d: the plain attention op
  std::vector<float> o2(q.size()), o3(q.size());
  p.rel_bias = {}, p.key_mask = {}, p.scale = float(1.0 / std::sqrt(double(d))), p.o = view(o2, {L, Hh, d});
  ops::attention_rel_bias(p);
  ops::attention({view(q, {L, Hh, d}), view(k, {L, Hh, d}), view(v, {L, Hh, d}), view(o3, {L, Hh, d}), 0.f});
  TW_CHECK(rel_l2(o2.data(), o3.data(), o2.size()) < 1e-6);
}

void test_mul_and_errors() {
  auto a = randn(10, 51), b = randn(10, 52);
  std::vector<float> y(10);
  ops::mul({view(a, {2, 5}), view(b, {2, 5}), view(y, {2, 5})});
  bool ok = true;
  for (int i = 0; i < 10; ++i) ok &= y[size_t(i)] == a[size_t(i)] * b[size_t(i)];
  TW_CHECK(ok);
  std::string msg = twtest::expect_throw([&] { ops::mul({view(a, {2, 5}), view(b, {5, 2}), view(y, {2, 5})}); });
  TW_CHECK(msg.find("mul") != std::string::npos);
  std::vector<float> x(3 * 2 * 4 * 4), w(5 * 4 * 27), out(5 * 2 * 4 * 4);
  msg = twtest::expect_throw([&] {
    ops::Conv3dParams p;
    p.x = view(x, {3, 2, 4, 4}), p.w = view(w, {5, 4, 3, 3, 3}), p.y = view(out, {5, 2, 4, 4});
    ops::conv3d(p);
  });
  TW_CHECK_MSG(msg.find("input channels") != std::string::npos, "%s", msg.c_str());
  msg = twtest::expect_throw([&] {
    ops::Conv3dParams p;
    p.x = view(x, {3, 2, 4, 4}), p.w = view(w, {5, 3, 3, 3, 3}), p.y = view(out, {5, 2, 4, 4});
    p.pad_t = 2, p.pad_top = p.pad_bottom = p.pad_left = 1;  // right pad missing → y has the wrong width
    ops::conv3d(p);
  });
  TW_CHECK_MSG(msg.find("y") != std::string::npos, "%s", msg.c_str());
  msg = twtest::expect_throw([&] {
    ops::Conv3dParams p;
    std::vector<float> r(5 * 2 * 4 * 3);
    p.x = view(x, {3, 2, 4, 4}), p.w = view(w, {5, 3, 3, 3, 3}), p.y = view(out, {5, 2, 4, 4}), p.residual = view(r, {5, 2, 4, 3});
    p.pad_t = 2, p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    ops::conv3d(p);
  });
  TW_CHECK_MSG(msg.find("residual") != std::string::npos, "%s", msg.c_str());
#ifndef TW_CUDA
  msg = twtest::expect_throw([&] {
    Tensor t = view(a, {2, 5});
    t.device = Device::CUDA;
    ops::mul({t, t, t});
  });
  TW_CHECK(msg.find("CUDA") != std::string::npos);
#endif
}

// The layout options (ops_conv.h): a norm + SiLU writing the padded channels-last input of a causal
// conv with a cached frame in front, the conv reading it (x_padded_cl), and conv2d's folded upsample —
// each against the naive loops on the plain layout.
void test_layout_options() {
  const int64_t C = 4, T = 2, Tc = 1, H = 5, W = 6, Co = 3, Hp = H + 2, Wp = W + 2, Tp = 1 + Tc + T;  // pad_t 1 + cache 1
  auto x = randn(size_t(C * T * H * W), 61);
  auto cache = randn(size_t(C * Tc * H * W), 62);
  auto g = randn(size_t(C), 63);
  auto w = randn(size_t(Co * C * 27), 64, 0.3f);
  auto b = randn(size_t(Co), 65);
  // plain: n = silu(norm(x)); y = conv3d(cat(0, cache, n)) with spatial pad 1
  std::vector<float> n(x.size());
  ops::ChannelRmsNormParams np{view(x, {C, T, H, W}), view(g, {C}), {}, view(n, {C, T, H, W})};
  np.silu = true;
  ops::channel_rms_norm(np);
  int64_t To, Ho, Wo;
  auto ref = naive_conv3d(n, cache, C, T, Tc, H, W, w, b, Co, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, To, Ho, Wo);
  // channels-last: frame 0 zeros, frame 1 the cache, frames 2.. written by the norm (border included)
  std::vector<float> xp(size_t(Tp * Hp * Wp * C), 7.f);  // 7: the norm must overwrite the border
  for (int64_t i = 0; i < Hp * Wp * C; ++i) xp[size_t(i)] = 0.f;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t hp = 0; hp < Hp; ++hp)
      for (int64_t wp = 0; wp < Wp; ++wp) {
        const bool in = hp >= 1 && hp <= H && wp >= 1 && wp <= W;
        xp[size_t(((1 * Hp + hp) * Wp + wp) * C + c)] = in ? cache[size_t((c * H + hp - 1) * W + wp - 1)] : 0.f;
      }
  np.y = view(xp, {Tp, Hp, Wp, C}), np.y_padded_cl = true, np.y_t0 = 1 + Tc, np.y_top = np.y_left = 1;
  ops::channel_rms_norm(np);
  bool border = true;
  for (int64_t t = 1 + Tc; t < Tp; ++t)
    for (int64_t wp = 0; wp < Wp; ++wp) border &= xp[size_t(((t * Hp + 0) * Wp + wp) * C)] == 0.f;
  TW_CHECK(border);
  std::vector<float> y(ref.size());
  ops::Conv3dParams p;
  p.x = view(xp, {Tp, Hp, Wp, C}), p.x_padded_cl = true, p.w = view(w, {Co, C, 3, 3, 3}), p.b = view(b, {Co});
  p.y = view(y, {Co, To, Ho, Wo});
  ops::conv3d(p);
  TW_CHECK(rel_l2(y.data(), ref.data(), y.size()) < 1e-6);
  p.pad_top = 1;  // the padding is already in x
  TW_CHECK(twtest::expect_throw([&] { ops::conv3d(p); }).find("already in x") != std::string::npos);
  // conv2d with the upsample folded in == upsample_nearest then conv2d
  std::vector<float> u(size_t(C * T * 2 * H * 2 * W));
  ops::upsample_nearest({view(x, {C, T, H, W}), view(u, {C, T, 2 * H, 2 * W}), 2, 2});
  auto w2 = randn(size_t(Co * C * 9), 66, 0.3f);
  auto ref2 = naive_conv3d(u, {}, C, T, 0, 2 * H, 2 * W, w2, b, Co, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, To, Ho, Wo);
  std::vector<float> y2(ref2.size());
  ops::Conv2dParams q;
  q.x = view(x, {C, T, H, W}), q.w = view(w2, {Co, C, 3, 3}), q.b = view(b, {Co}), q.y = view(y2, {Co, T, Ho, Wo});
  q.pad_top = q.pad_bottom = q.pad_left = q.pad_right = 1, q.upsample = 2;
  ops::conv2d(q);
  TW_CHECK(rel_l2(y2.data(), ref2.data(), y2.size()) < 1e-6);
}

}  // namespace

int main() {
  test_conv3d_vs_naive();
  test_causal_chunks_equal_full();
  test_conv2d();
  test_upsample_and_transpose();
  test_channel_rms_norm();
  test_layout_options();
  test_attention_rel_bias();
  test_mul_and_errors();
  return twtest::finish("conv_ops_test");
}
