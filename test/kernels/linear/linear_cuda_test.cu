// linear on CUDA (cuBLASLt bf16, fp32 accumulation, bias in the epilogue) vs the CPU reference on
// the same bf16 values. The GPU output is bf16: error ≤ 1 bf16 ulp of the reference + an atol for
// fp32 accumulation-order differences (√K · 2⁻²⁴ · Σ|x·w| ≲ 1e-4 · rms for these sizes).
#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"

using namespace tw;
using namespace tw::cuda::testing;

static void run(int64_t M, int64_t N, int64_t K, bool bias, DType bias_dt, uint64_t seed) {
  auto x = DevTensor::make(randn_fast(size_t(M * K), seed, 1.f), DType::BF16, {M, K});
  auto w = DevTensor::make(randn_fast(size_t(N * K), seed + 1, 1.f / std::sqrt(float(K))), DType::BF16, {N, K});
  DevTensor b;
  // bf16-exact bias values: an F32 bias is rounded to bf16 once on CUDA (checkpoint biases are bf16).
  std::vector<float> bv = randn_fast(size_t(N), seed + 2, 1.f);
  for (auto& v : bv) v = round_bf16(v);
  if (bias) b = DevTensor::make(bv, bias_dt, {N});
  auto y = DevTensor::poisoned(DType::BF16, {M, N});
  ops::LinearParams p;
  p.x = x.t; p.w = w.t; p.y = y.t;
  if (bias) p.b = b.t;
  ops::linear(p);
  cuda::synchronize();
  // CPU reference over a row subset for the big shapes (all rows for small ones).
  const int64_t Mc = std::min<int64_t>(M, 512);
  std::vector<float> xs(x.host.begin(), x.host.begin() + Mc * K), wh = w.host, bh = bias ? b.host : std::vector<float>();
  std::vector<float> ref(size_t(Mc * N));
  ops::LinearParams c;
  c.x = cpu_view(xs, {Mc, K}); c.w = cpu_view(wh, {N, K}); c.y = cpu_view(ref, {Mc, N});
  if (bias) c.b = cpu_view(bh, {N});
  ops::linear(c);
  std::vector<float> got = y.download();
  // every row must be written (poison check over all rows)
  int64_t nan_all = 0;
  for (float v : got) nan_all += std::isnan(v);
  got.resize(size_t(Mc * N));
  const Stats s = compare_bf16(got, ref, 1.f, float(1e-4 * rms(ref)));
  std::printf("  linear M%lld N%lld K%lld bias %s   rel_l2 %.2e  max_abs %.2e  over %lld/%lld\n", (long long)M, (long long)N,
              (long long)K, bias ? dtype_name(bias_dt) : "none", s.rel_l2, s.max_abs, (long long)s.over, (long long)s.n);
  TW_CHECK(nan_all == 0);
  TW_CHECK(s.over == 0);
  TW_CHECK(y.guard_intact());
}

int main() {
  try {
    run(7, 24, 40, true, DType::BF16, 1);
    run(100, 1536, 1536, true, DType::BF16, 2);
    run(33, 64, 1536, true, DType::F32, 3);      // head.head shape, fp32 bias
    run(65, 1536, 64, false, DType::BF16, 4);    // patch embedding K
    run(32760, 1536, 1536, true, DType::BF16, 5);
    run(32760, 8960, 1536, true, DType::BF16, 6);
    run(32760, 1536, 8960, true, DType::BF16, 7);
    run(512, 5120, 5120, true, DType::BF16, 8);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("linear_cuda_test");
}
