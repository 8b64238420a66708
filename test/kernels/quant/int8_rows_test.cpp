// quantize_int8_rows / dequantize_int8_rows (CPU reference): hand-computed rows (127 levels,
// round-half-even, ±amax → ±127, a zero row), random rows against a per-element recomputation with
// the round-trip error bound amax/254 (half a step), outlier rows, bf16 input = its f32 upcast,
// bf16 output = the f32 output rounded once, and argument errors.
#include "../op_test_util.h"
#include "tw/ops_quant.h"

using namespace optest;

namespace {

struct Quantized {
  std::vector<int8_t> q;
  std::vector<float> scale;
};

Quantized quantize(const Tensor& x) {
  const int64_t N = x.size(0), K = x.size(1);
  Quantized r;
  r.q.assign(size_t(N * K), 99);
  r.scale.assign(size_t(N), -1.f);
  tw::ops::quantize_int8_rows({x, Tensor::view(r.q.data(), DType::I8, {N, K}), Tensor::view(r.scale.data(), DType::F32, {N})});
  return r;
}

std::vector<float> dequantize(Quantized& r, int64_t N, int64_t K) {
  std::vector<float> y(size_t(N * K), -7.f);
  tw::ops::dequantize_int8_rows({Tensor::view(r.q.data(), DType::I8, {N, K}), Tensor::view(r.scale.data(), DType::F32, {N}), view(y, {N, K})});
  return y;
}

}  // namespace

int main() {
  {  // row 0: amax 127 → multiplier 1 (ties to even, ±amax → ±127); row 1: zeros; row 2: amax 254 → multiplier 0.5
    std::vector<float> x = {2.5f, 3.5f, -2.5f, 127.f, -127.f, 0.49f,  //
                            0.f, -0.f, 0.f, 0.f, 0.f, 0.f,            //
                            5.f, 7.f, -254.f, 1.f, 3.f, 100.f};
    auto r = quantize(view(x, {3, 6}));
    const int8_t expect[] = {2, 4, -2, 127, -127, 0, 0, 0, 0, 0, 0, 0, 2, 4, -127, 0, 2, 50};
    for (size_t i = 0; i < x.size(); ++i) TW_CHECK_MSG(r.q[i] == expect[i], "x[%zu]=%g: q=%d, expected %d", i, x[i], r.q[i], expect[i]);
    TW_CHECK(r.scale[0] == 1.f && r.scale[1] == 0.f && r.scale[2] == 2.f);
    auto y = dequantize(r, 3, 6);
    for (int k = 0; k < 6; ++k) TW_CHECK(y[size_t(6 + k)] == 0.f);  // the zero row comes back exactly zero
    TW_CHECK(y[3] == 127.f && y[14] == -254.f && y[17] == 100.f);
  }
  {  // random rows with outliers, odd K: every element recomputed here; round trip within half a step
    const int64_t N = 37, K = 301;
    auto x = twtest::randn(size_t(N * K), 11, 0.02f);
    for (int64_t n = 0; n < N; n += 5) x[size_t(n * K + (n * 7) % K)] *= 400.f;  // T5-style outlier columns
    auto r = quantize(view(x, {N, K}));
    int bad = 0;
    double worst = 0;
    for (int64_t n = 0; n < N; ++n) {
      float amax = 0.f;
      for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[size_t(n * K + k)]));
      TW_CHECK(r.scale[size_t(n)] == amax / 127.f);
      for (int64_t k = 0; k < K; ++k) {
        const double v = std::min(127.0, std::max(-128.0, double(std::nearbyint(x[size_t(n * K + k)] * (127.f / amax)))));
        bad += r.q[size_t(n * K + k)] != int8_t(v);
      }
    }
    TW_CHECK_MSG(bad == 0, "%d elements differ from the recomputation", bad);
    auto y = dequantize(r, N, K);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        const float s = r.scale[size_t(n)];
        TW_CHECK(y[size_t(n * K + k)] == float(r.q[size_t(n * K + k)]) * s);
        worst = std::max(worst, std::fabs(double(y[size_t(n * K + k)]) - x[size_t(n * K + k)]) / s);
      }
    std::printf("  worst round-trip error %.4f steps (bound 0.5)\n", worst);
    TW_CHECK_MSG(worst <= 0.5 + 1e-4, "round trip error %.4f steps > 0.5", worst);
  }
  {  // bf16 input = its f32 upcast; bf16 output = the f32 output rounded once
    const int64_t N = 20, K = 130;
    auto x = twtest::randn(size_t(N * K), 12);
    auto xb = to_bf16(x);
    for (size_t i = 0; i < x.size(); ++i) x[i] = tw::bf16_to_f32(xb[i]);
    auto a = quantize(view(x, {N, K}));
    auto b = quantize(Tensor::view(xb.data(), DType::BF16, {N, K}));
    TW_CHECK(a.q == b.q && a.scale == b.scale);
    auto y = dequantize(a, N, K);
    std::vector<uint16_t> yb(size_t(N * K));
    tw::ops::dequantize_int8_rows({Tensor::view(a.q.data(), DType::I8, {N, K}), Tensor::view(a.scale.data(), DType::F32, {N}),
                                   Tensor::view(yb.data(), DType::BF16, {N, K})});
    int bad = 0;
    for (size_t i = 0; i < y.size(); ++i) bad += yb[i] != tw::f32_to_bf16(y[i]);
    TW_CHECK_MSG(bad == 0, "%d bf16 outputs are not the f32 output rounded", bad);
  }
  {  // argument errors
    std::vector<float> x(256), s(2);
    std::vector<int8_t> q(256);
    auto msg = twtest::expect_throw([&] {
      tw::ops::quantize_int8_rows({view(x, {2, 128}), Tensor::view(q.data(), DType::I8, {2, 128}), Tensor::view(s.data(), DType::F32, {1})});
    });
    TW_CHECK_MSG(msg.find("quantize_int8_rows: scale has shape [1], expected [2]") != std::string::npos, "%s", msg.c_str());
    msg = twtest::expect_throw([&] {
      tw::ops::dequantize_int8_rows({Tensor::view(q.data(), DType::U8, {2, 128}), Tensor::view(s.data(), DType::F32, {2}), view(x, {2, 128})});
    });
    TW_CHECK_MSG(msg.find("q is uint8") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("int8_rows_test");
}
