// linear_int8 (TD W8A8): against the PyTorch re-implementation of facts §3 in
// test/fixtures/ops/linear_int8.safetensors (TD's own CUDA extension needs a long nvcc build, so
// the golden emulates its math: fp32 fmaf accumulation per 128-wide k block, bf16 round, bf16 bias
// add), against an independent recomputation here, and for sanity against the fp32 linear.
#include "../op_test_util.h"

using namespace optest;

namespace {

// Independent evaluation from the op's own quantizer output (ties the GEMM part down).
std::vector<float> reference(const std::vector<float>& x, const Tensor& wq, const std::vector<float>& ws,
                             const std::vector<float>& b, int64_t M, int64_t K, int64_t N) {
  std::vector<float> xb(x.size());
  for (size_t i = 0; i < x.size(); ++i) xb[i] = tw::round_bf16(x[i]);
  std::vector<int8_t> xq(x.size());
  std::vector<float> xs(size_t(((M + 127) / 128) * (K / 128)));
  tw::ops::quantize_int8_block128({view(xb, {M, K}), Tensor::view(xq.data(), DType::I8, {M, K}),
                                   Tensor::view(xs.data(), DType::F32, {(M + 127) / 128, K / 128})});
  std::vector<float> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.f;
      for (int64_t kb = 0; kb < K / 128; ++kb) {
        int64_t s = 0;
        for (int64_t k = kb * 128; k < kb * 128 + 128; ++k) s += int64_t(xq[size_t(m * K + k)]) * wq.ptr<int8_t>()[n * K + k];
        const float sc = xs[size_t((m / 128) * (K / 128) + kb)] * ws[size_t((n / 128) * (K / 128) + kb)];
        acc = float(double(s) * double(sc) + double(acc));  // fma via double (exact product)
      }
      float out = tw::round_bf16(acc);
      if (!b.empty()) out = tw::round_bf16(out + b[size_t(n)]);
      y[size_t(m * N + n)] = out;
    }
  return y;
}

// Fraction of elements that differ, and the largest difference in bf16 ulps of the reference.
void compare_bf16(const char* what, const std::vector<float>& a, const std::vector<float>& ref) {
  size_t diff = 0;
  double worst_ulp = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) { diff = a.size(); worst_ulp = INFINITY; break; }
    if (a[i] == ref[i]) continue;
    ++diff;
    int e;
    std::frexp(ref[i], &e);
    worst_ulp = std::max(worst_ulp, std::fabs(double(a[i]) - ref[i]) / std::ldexp(1.0, e - 8));
  }
  std::printf("  %-44s %zu of %zu differ, max %.2f bf16 ulp\n", what, diff, a.size(), worst_ulp);
  // The emulation may round a fused multiply-add differently from a double-rounded one in rare
  // ties; anything beyond 1 bf16 ulp, or more than 0.1% of elements, is a real difference.
  TW_CHECK_MSG(diff * 1000 <= a.size() && worst_ulp <= 1.0, "%s", what);
}

}  // namespace

int main() {
  {  // golden
    Golden g("linear_int8");
    const int64_t M = 150, K = 384, N = 200;
    auto x = g.f32("x");
    Guarded y({M, N});
    tw::ops::linear_int8({view(x, {M, K}), g.raw("w_q"), g.raw("w_scale"), g.raw("b"), y.t()});
    TW_CHECK(y.guards_intact());
    compare_bf16("torch re-implementation (bf16 bias)", y.values(), g.f32("y"));
    auto ind = reference(x, g.raw("w_q"), g.f32("w_scale"), g.f32("b"), M, K, N);
    compare_bf16("independent recomputation", y.values(), ind);
    // sanity: W8A8 vs the fp32 linear with the unquantized bf16 weight is a few percent off
    Guarded yf({M, N});
    tw::ops::linear({view(x, {M, K}), g.raw("w"), g.raw("b"), yf.t()});
    const double e = rel_l2(y.values(), yf.values());
    std::printf("  W8A8 vs fp32 linear: rel L2 %.3e\n", e);
    TW_CHECK(e > 1e-3 && e < 0.1);
    // f32 bias gives the same values as its bf16 twin
    auto b32 = g.f32("b");
    Guarded y2({M, N});
    tw::ops::linear_int8({view(x, {M, K}), g.raw("w_q"), g.raw("w_scale"), view(b32, {N}), y2.t()});
    TW_CHECK(y2.values() == y.values());
  }
  {  // Wan-ish: K = 1536 (12 blocks), M and N not multiples of 128, no bias
    const int64_t M = 131, K = 1536, N = 257;
    auto x = twtest::randn(size_t(M * K), 21);
    auto w = twtest::randn(size_t(N * K), 22, 0.03f);
    std::vector<int8_t> wq(w.size());
    std::vector<float> ws(size_t(3 * 12));
    tw::ops::quantize_int8_block128({view(w, {N, K}), Tensor::view(wq.data(), DType::I8, {N, K}),
                                     Tensor::view(ws.data(), DType::F32, {3, 12})});
    Tensor wqt = Tensor::view(wq.data(), DType::I8, {N, K});
    Guarded y({M, N});
    tw::ops::linear_int8({view(x, {M, K}), wqt, Tensor::view(ws.data(), DType::F32, {3, 12}), {}, y.t()});
    TW_CHECK(y.guards_intact());
    compare_bf16("1.3B-like K=1536, odd M/N, no bias", y.values(), reference(x, wqt, ws, {}, M, K, N));
  }
  {  // structured: x = ones saturates at +amax (q = 127, scale 1/128) — the 128-not-127 quirk
    const int64_t M = 2, K = 256, N = 2;
    std::vector<float> x(size_t(M * K), 1.f);
    std::vector<int8_t> wq(size_t(N * K), 64);
    std::vector<float> ws = {1.f / 64.f, 1.f / 64.f};  // dequantized weight = 1
    Guarded y({M, N});
    tw::ops::linear_int8({view(x, {M, K}), Tensor::view(wq.data(), DType::I8, {N, K}),
                          Tensor::view(ws.data(), DType::F32, {1, 2}), {}, y.t()});
    // x quantizes to 127 (128 saturates) with scale 1/128: each output = 256 · 127/128 = 254
    for (int i = 0; i < 4; ++i) TW_CHECK_MSG(y.data()[i] == 254.f, "y=%g", y.data()[i]);
  }
  {  // argument errors
    std::vector<float> x(2 * 100), y(4);
    std::vector<int8_t> wq(2 * 100);
    std::vector<float> ws(1);
    auto msg = twtest::expect_throw([&] {
      tw::ops::linear_int8({view(x, {2, 100}), Tensor::view(wq.data(), DType::I8, {2, 100}),
                            Tensor::view(ws.data(), DType::F32, {1, 1}), {}, view(y, {2, 2})});
    });
    TW_CHECK_MSG(msg.find("multiple of 128") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("linear_int8_test");
}
