// rope3d on CUDA vs the CPU reference: in place on bf16 x [L, heads, 128]. Angles are float64 on
// both sides, the rotation fp32, one rounding to bf16 → within one bf16 ulp of the fp32 reference
// (plus a tiny atol for outputs near zero, where the two fp32 products cancel).
#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"

using namespace tw;
using namespace tw::cuda::testing;

static void run(int64_t T, int64_t H, int64_t W, int64_t heads, int mode, uint64_t seed) {
  const int64_t L = T * H * W, n = L * heads * 128;
  std::vector<float> xv = mode == 0 ? randn_fast(size_t(n), seed, 1.f) : std::vector<float>(size_t(n), 1.f);
  auto x = DevTensor::make(xv, DType::BF16, {L, heads, 128});
  ops::Rope3dParams p;
  p.x = x.t; p.T = T; p.H = H; p.W = W;
  ops::rope3d(p);
  cuda::synchronize();
  std::vector<float> ref = x.host;
  ops::Rope3dParams c;
  c.x = cpu_view(ref, {L, heads, 128}); c.T = T; c.H = H; c.W = W;
  ops::rope3d(c);
  const Stats s = compare_bf16(x.download(), ref, 1.f, 1e-5f);
  std::printf("  rope3d T%lld H%lld W%lld heads %lld mode %d   rel_l2 %.2e  max_abs %.2e  over_1ulp %lld/%lld\n", (long long)T,
              (long long)H, (long long)W, (long long)heads, mode, s.rel_l2, s.max_abs, (long long)s.over, (long long)s.n);
  TW_CHECK(s.nan == 0);
  TW_CHECK(s.over == 0);
  TW_CHECK(x.guard_intact());
}

int main() {
  try {
    run(2, 3, 5, 2, 0, 1);
    run(3, 4, 4, 1, 1, 2);      // ones: pure cos/sin values
    run(21, 30, 52, 12, 0, 3);  // Wan 480p, 1.3B heads
    run(21, 45, 80, 2, 0, 4);   // Wan 720p grid (2 of 40 heads to keep the CPU side quick)
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("rope3d_cuda_test");
}
