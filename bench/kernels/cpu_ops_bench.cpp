// CPU reference ops: throughput on small-model shapes (the CPU backend serves tests and tiny
// models, so "fast enough" means seconds, not minutes). Baseline in the same run: a naive
// triple-loop fp32 GEMM. Build with -DTW_BUILD_BENCH=ON; run from the repo root.
#include <chrono>
#include <cstdio>
#include <vector>

#include "tw/ops.h"
#include "tw_test.h"

using tw::DType;
using tw::Tensor;

namespace {

template <class F>
double seconds(F&& f, int reps = 3) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main() {
  {
    const int64_t M = 1024, K = 1536, N = 1536;
    auto x = twtest::randn(size_t(M * K), 1), w = twtest::randn(size_t(N * K), 2);
    std::vector<float> y(size_t(M * N));
    std::vector<uint16_t> wb(w.size());
    for (size_t i = 0; i < w.size(); ++i) wb[i] = tw::f32_to_bf16(w[i]);
    const double flop = 2.0 * M * K * N;
    double t = seconds([&] { tw::ops::linear({Tensor::view(x.data(), DType::F32, {M, K}), Tensor::view(w.data(), DType::F32, {N, K}), {}, Tensor::view(y.data(), DType::F32, {M, N})}); });
    std::printf("linear %lldx%lldx%lld f32 weight : %7.3f s  %6.2f GFLOP/s\n", (long long)M, (long long)K, (long long)N, t, flop / t * 1e-9);
    t = seconds([&] { tw::ops::linear({Tensor::view(x.data(), DType::F32, {M, K}), Tensor::view(wb.data(), DType::BF16, {N, K}), {}, Tensor::view(y.data(), DType::F32, {M, N})}); });
    std::printf("linear %lldx%lldx%lld bf16 weight: %7.3f s  %6.2f GFLOP/s\n", (long long)M, (long long)K, (long long)N, t, flop / t * 1e-9);
    const int64_t Mn = 128;  // naive baseline on fewer rows
    t = seconds([&] {
      for (int64_t m = 0; m < Mn; ++m)
        for (int64_t n = 0; n < N; ++n) {
          float s = 0;
          for (int64_t k = 0; k < K; ++k) s += x[size_t(m * K + k)] * w[size_t(n * K + k)];
          y[size_t(m * N + n)] = s;
        }
    }, 1);
    std::printf("naive triple loop baseline        : %6.2f GFLOP/s\n", 2.0 * Mn * K * N / t * 1e-9);
  }
  {
    const int64_t L = 2048, H = 4, d = 128;
    auto q = twtest::randn(size_t(L * H * d), 3), k = twtest::randn(size_t(L * H * d), 4), v = twtest::randn(size_t(L * H * d), 5);
    std::vector<float> o(q.size()), pw(size_t(d * d), 0.01f);
    auto T = [&](std::vector<float>& a) { return Tensor::view(a.data(), DType::F32, {L, H, d}); };
    double t = seconds([&] { tw::ops::attention({T(q), T(k), T(v), T(o)}); }, 1);
    std::printf("attention L %lld heads %lld d %lld  : %7.3f s  %6.2f GFLOP/s\n", (long long)L, (long long)H, (long long)d, t, 4.0 * L * L * H * d / t * 1e-9);
    for (bool quant : {false, true}) {
      tw::ops::SparseLinearAttentionParams p;
      p.q = T(q); p.k = T(k); p.v = T(v); p.o = T(o);
      p.proj_w = Tensor::view(pw.data(), DType::F32, {d, d});
      p.topk = 0.1f;
      p.quantized = quant;
      t = seconds([&] { tw::ops::sparse_linear_attention(p); }, 1);
      std::printf("%s topk 0.1 L %lld heads %lld : %7.3f s\n", quant ? "sagesla" : "sla    ", (long long)L, (long long)H, t);
    }
  }
  return 0;
}
