// linear: CPU reference vs an fp64 computation written here, and vs PyTorch (F.linear fp32 on an
// H100, TF32 off; test/fixtures/ops/linear.safetensors). Weights F32/BF16/F16 read in place.
#include "../op_test_util.h"

using namespace optest;
using tw::ops::LinearParams;

namespace {

// y64[m,n] = Σ_k x·w + b in double, with w given as f32 values (already upcast).
std::vector<double> linear64(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                             int64_t M, int64_t K, int64_t N) {
  std::vector<double> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = b.empty() ? 0.0 : b[size_t(n)];
      for (int64_t k = 0; k < K; ++k) s += double(x[size_t(m * K + k)]) * double(w[size_t(n * K + k)]);
      y[size_t(m * N + n)] = s;
    }
  return y;
}

void random_case(int64_t M, int64_t K, int64_t N, DType wdt, bool bias, uint64_t seed) {
  auto x = twtest::randn(size_t(M * K), seed);
  auto w = twtest::randn(size_t(N * K), seed + 1, 0.05f);
  auto b = bias ? twtest::randn(size_t(N), seed + 2, 0.1f) : std::vector<float>{};
  std::vector<uint16_t> w16, b16;
  Tensor wt, bt;
  if (wdt == DType::F32) {
    wt = view(w, {N, K});
    if (bias) bt = view(b, {N});
  } else {
    w16 = wdt == DType::BF16 ? to_bf16(w) : to_f16(w);
    for (size_t i = 0; i < w.size(); ++i) w[i] = wdt == DType::BF16 ? tw::bf16_to_f32(w16[i]) : tw::f16_to_f32(w16[i]);
    wt = Tensor::view(w16.data(), wdt, {N, K});
    if (bias) {
      b16 = wdt == DType::BF16 ? to_bf16(b) : to_f16(b);
      for (size_t i = 0; i < b.size(); ++i) b[i] = wdt == DType::BF16 ? tw::bf16_to_f32(b16[i]) : tw::f16_to_f32(b16[i]);
      bt = Tensor::view(b16.data(), wdt, {N});
    }
  }
  Guarded y({M, N});
  tw::ops::linear({view(x, {M, K}), wt, bt, y.t()});
  TW_CHECK(y.guards_intact());
  char what[96];
  std::snprintf(what, sizeof what, "random %lldx%lldx%lld %s%s", (long long)M, (long long)K, (long long)N,
                tw::dtype_name(wdt), bias ? " +b" : "");
  // fp32 lanes over 256-chunks + double across chunks: a few fp32 ulps at most.
  report(what, rel_l2(y.values(), linear64(x, w, b, M, K, N)), 1e-6);
}

}  // namespace

int main() {
  // Odd and Wan-ish shapes (K = 1536 is the 1.3B model dim; N not a multiple of the 64-row tile).
  random_case(1, 1, 1, DType::F32, true, 1);
  random_case(3, 5, 7, DType::F32, false, 2);
  random_case(17, 130, 33, DType::BF16, true, 3);
  random_case(37, 300, 65, DType::F16, true, 4);
  random_case(33, 1536, 200, DType::BF16, true, 5);
  random_case(20, 257, 129, DType::F32, true, 6);

  {  // deterministic: the same bits with 1, 2 or 3 threads
    const int64_t M = 40, K = 700, N = 150;
    auto x = twtest::randn(size_t(M * K), 31), w = twtest::randn(size_t(N * K), 32);
    auto wb = to_bf16(w);
    TW_CHECK(same_for_thread_counts([&] {
      Guarded y({M, N});
      tw::ops::linear({view(x, {M, K}), Tensor::view(wb.data(), DType::BF16, {N, K}), {}, y.t()});
      return y.values();
    }));
  }

  {  // structured: ones → y = K + b exactly; arange weights → closed form
    const int64_t M = 5, K = 513, N = 3;
    std::vector<float> x(size_t(M * K), 1.f), w(size_t(N * K), 1.f), b = {0.5f, -1.f, 2.f};
    Guarded y({M, N});
    tw::ops::linear({view(x, {M, K}), view(w, {N, K}), view(b, {N}), y.t()});
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) TW_CHECK(y.data()[m * N + n] == float(K) + b[size_t(n)]);
    std::vector<float> xa = arange(size_t(K), 0.f, 1.f / 512.f), wa = arange(size_t(K));
    Guarded y2({1, 1});
    tw::ops::linear({view(xa, {1, K}), view(wa, {1, K}), {}, y2.t()});
    double expect = 0;
    for (int64_t k = 0; k < K; ++k) expect += double(k) * double(k) / 512.0;  // exact in fp32 products
    TW_CHECK_MSG(std::fabs(y2.data()[0] - expect) <= 1e-6 * expect, "arange: %.9g vs %.9g", y2.data()[0], expect);
  }

  {  // NaN in x propagates to its row only, and a NaN result never passes the comparison
    std::vector<float> x = {1.f, NAN, 2.f, 3.f}, w = {1.f, 1.f, 1.f, 1.f};
    Guarded y({2, 2});
    tw::ops::linear({view(x, {2, 2}), view(w, {2, 2}), {}, y.t()});
    TW_CHECK(std::isnan(y.data()[0]) && std::isnan(y.data()[1]));
    TW_CHECK(y.data()[2] == 5.f && y.data()[3] == 5.f);
    TW_CHECK(std::isinf(rel_l2(y.values(), std::vector<float>{1.f, 1.f, 5.f, 5.f})));
  }

  {  // PyTorch goldens
    Golden g("linear");
    auto x = g.f32("x"), w = g.f32("w"), b = g.f32("b");
    Guarded y({77, 96}), y0({77, 96});
    tw::ops::linear({view(x, {77, 200}), view(w, {96, 200}), view(b, {96}), y.t()});
    tw::ops::linear({view(x, {77, 200}), view(w, {96, 200}), {}, y0.t()});
    // PyTorch fp32 (cuBLAS, no TF32) is itself ~1e-7 from fp64; 1e-6 leaves room for both.
    report("torch F.linear fp32 (+bias)", rel_l2(y.values(), g.f32("y")), 1e-6);
    report("torch F.linear fp32 (no bias)", rel_l2(y0.values(), g.f32("y_nobias")), 1e-6);
    auto x2 = g.f32("x2");
    Guarded y2({40, 136});
    tw::ops::linear({view(x2, {40, 384}), g.raw("w_bf16"), g.raw("b_bf16"), y2.t()});
    report("torch F.linear, bf16 weight read in place", rel_l2(y2.values(), g.f32("y_bf16w")), 1e-6);
  }

  {  // argument errors name the op and the argument
    std::vector<float> x(6), w(6), y(4), b(3);
    auto msg = twtest::expect_throw([&] { tw::ops::linear({view(x, {2, 3}), view(w, {3, 2}), {}, view(y, {2, 2})}); });
    TW_CHECK_MSG(msg.find("linear") != std::string::npos && msg.find("w") != std::string::npos, "%s", msg.c_str());
    msg = twtest::expect_throw([&] { tw::ops::linear({view(x, {2, 3}), view(w, {2, 3}), view(b, {3}), view(y, {2, 2})}); });
    TW_CHECK_MSG(msg.find("b has shape [3]") != std::string::npos, "%s", msg.c_str());
    std::vector<int32_t> wi(6);
    msg = twtest::expect_throw([&] {
      tw::ops::linear({view(x, {2, 3}), Tensor::view(wi.data(), DType::I32, {2, 3}), {}, view(y, {2, 2})});
    });
    TW_CHECK_MSG(msg.find("int32") != std::string::npos, "%s", msg.c_str());
    Tensor wc = view(w, {2, 3});
    wc.device = tw::Device::CUDA;
    msg = twtest::expect_throw([&] { tw::ops::linear({view(x, {2, 3}), wc, {}, view(y, {2, 2})}); });
    TW_CHECK_MSG(msg.find("same device") != std::string::npos, "%s", msg.c_str());
#ifndef TW_CUDA
    Tensor xc = view(x, {2, 3}), yc = view(y, {2, 2});
    xc.device = yc.device = tw::Device::CUDA;
    msg = twtest::expect_throw([&] { tw::ops::linear({xc, wc, {}, yc}); });
    TW_CHECK_MSG(msg.find("no CUDA backend") != std::string::npos, "%s", msg.c_str());
#endif
  }
  return twtest::finish("linear_test");
}
