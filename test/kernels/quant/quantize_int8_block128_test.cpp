// quantize_int8_block128: hand-computed tiles (128 not 127, round-half-even, saturation, the 1e-8
// floor), odd shapes against a per-element recomputation, bf16 input, and the activation
// quantization of the PyTorch re-implementation in test/fixtures/ops/linear_int8.safetensors.
#include "../op_test_util.h"

using namespace optest;

namespace {

struct Quantized {
  std::vector<int8_t> q;
  std::vector<float> scale;
};

Quantized run(const Tensor& x) {
  const int64_t M = x.size(0), K = x.size(1);
  Quantized r;
  r.q.assign(size_t(M * K), 99);
  r.scale.assign(size_t(((M + 127) / 128) * ((K + 127) / 128)), -1.f);
  tw::ops::quantize_int8_block128({x, Tensor::view(r.q.data(), DType::I8, {M, K}),
                                   Tensor::view(r.scale.data(), DType::F32, {(M + 127) / 128, (K + 127) / 128})});
  return r;
}

}  // namespace

int main() {
  {  // amax = 128 → multiplier 1: ties go to even, +amax saturates to 127, −amax is −128
    std::vector<float> x = {2.5f, 3.5f, -2.5f, -3.5f, 128.f, -128.f, 0.49f, -0.5f, 1.5f, 127.4f};
    auto r = run(view(x, {2, 5}));
    const int8_t expect[] = {2, 4, -2, -4, 127, -128, 0, 0, 2, 127};
    for (size_t i = 0; i < x.size(); ++i) TW_CHECK_MSG(r.q[i] == expect[i], "x=%g: q=%d, expected %d", x[i], r.q[i], expect[i]);
    TW_CHECK(r.scale[0] == 1.f);
  }
  {  // all-zero tile: amax floor 1e-8
    std::vector<float> x(300, 0.f);
    auto r = run(view(x, {3, 100}));
    TW_CHECK(r.scale[0] == 1e-8f / 128.f);
    for (auto v : r.q) TW_CHECK(v == 0);
  }
  {  // odd shape 200×300 → 2×3 tiles, each with its own scale; recompute every element here
    const int64_t M = 200, K = 300;
    auto x = twtest::randn(size_t(M * K), 7);
    for (int64_t m = 0; m < M; ++m) x[size_t(m * K + 5)] *= 30.f;  // tile column 0 gets outliers
    auto r = run(view(x, {M, K}));
    int bad = 0;
    for (int64_t bm = 0; bm < 2; ++bm)
      for (int64_t bk = 0; bk < 3; ++bk) {
        float amax = 1e-8f;
        for (int64_t m = bm * 128; m < std::min(M, bm * 128 + 128); ++m)
          for (int64_t k = bk * 128; k < std::min(K, bk * 128 + 128); ++k) amax = std::max(amax, std::fabs(x[size_t(m * K + k)]));
        TW_CHECK(r.scale[size_t(bm * 3 + bk)] == amax / 128.f);
        for (int64_t m = bm * 128; m < std::min(M, bm * 128 + 128); ++m)
          for (int64_t k = bk * 128; k < std::min(K, bk * 128 + 128); ++k) {
            double v = std::nearbyint(double(x[size_t(m * K + k)] * (128.f / amax)));
            v = std::min(127.0, std::max(-128.0, v));
            if (r.q[size_t(m * K + k)] != int8_t(v)) ++bad;
          }
      }
    TW_CHECK_MSG(bad == 0, "%d elements differ", bad);
    // dequantized error ≤ half a step (amax/256) inside every tile, except the clipped +amax
    double worst = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) {
        const float s = r.scale[size_t((m / 128) * 3 + k / 128)];
        const float xv = x[size_t(m * K + k)];
        if (xv >= 127.5f * s) continue;
        worst = std::max(worst, std::fabs(double(r.q[size_t(m * K + k)]) * s - xv) / s);
      }
    TW_CHECK_MSG(worst <= 0.5 + 1e-6, "max dequant error %.4f steps", worst);
  }
  {  // bf16 input gives the same result as its f32 upcast
    auto x = twtest::randn(130 * 129, 9);
    auto xb = to_bf16(x);
    for (size_t i = 0; i < x.size(); ++i) x[i] = tw::bf16_to_f32(xb[i]);
    auto a = run(view(x, {130, 129}));
    auto b = run(Tensor::view(xb.data(), DType::BF16, {130, 129}));
    TW_CHECK(a.q == b.q && a.scale == b.scale);
  }
  {  // PyTorch re-implementation (facts §3): activation tiles of bf16(x)
    Golden g("linear_int8");
    auto x = g.f32("x");
    for (auto& v : x) v = tw::round_bf16(v);
    auto r = run(view(x, {150, 384}));
    Tensor gq = g.raw("x_q");
    auto gs = g.f32("x_scale");
    int bad = 0;
    for (size_t i = 0; i < r.q.size(); ++i) bad += r.q[i] != gq.ptr<int8_t>()[i];
    TW_CHECK_MSG(bad == 0, "%d of %zu int8 values differ from torch", bad, r.q.size());
    TW_CHECK(r.scale == gs);
    // weights: quantizing the bf16 weight reproduces the stored int8_weight/scale
    Tensor w = g.raw("w");
    auto rw = run(w);
    Tensor gwq = g.raw("w_q");
    bad = 0;
    for (size_t i = 0; i < rw.q.size(); ++i) bad += rw.q[i] != gwq.ptr<int8_t>()[i];
    TW_CHECK_MSG(bad == 0, "%d weight values differ", bad);
    TW_CHECK(rw.scale == g.f32("w_scale"));
    std::printf("  torch re-implementation: int8 values and scales identical\n");
  }
  {  // argument errors
    std::vector<float> x(256);
    std::vector<int8_t> q(256);
    std::vector<float> s(1);
    auto msg = twtest::expect_throw([&] {
      tw::ops::quantize_int8_block128({view(x, {2, 128}), Tensor::view(q.data(), DType::I8, {2, 128}),
                                       Tensor::view(s.data(), DType::F32, {2, 1})});
    });
    TW_CHECK_MSG(msg.find("quantize_int8_block128: scale has shape [2, 1], expected [1, 1]") != std::string::npos, "%s", msg.c_str());
    msg = twtest::expect_throw([&] {
      tw::ops::quantize_int8_block128({view(x, {2, 128}), Tensor::view(q.data(), DType::U8, {2, 128}),
                                       Tensor::view(s.data(), DType::F32, {1, 1})});
    });
    TW_CHECK_MSG(msg.find("q is uint8") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("quantize_int8_block128_test");
}
