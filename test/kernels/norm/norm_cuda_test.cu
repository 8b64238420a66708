// layer_norm and rms_norm on CUDA vs the CPU reference on the same bf16-rounded inputs.
// Tolerance: the CUDA op computes in fp32 and rounds once to bf16, so every element must be within
// one bf16 ulp of the fp32 reference (statistics summed in another order can flip one rounding).
#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"

using namespace tw;
using namespace tw::cuda::testing;

static void check_stats(const char* what, const Stats& s, const DevTensor& out) {
  std::printf("  %-44s rel_l2 %.2e  max_abs %.2e  over_1ulp %lld/%lld\n", what, s.rel_l2, s.max_abs, (long long)s.over, (long long)s.n);
  TW_CHECK_MSG(s.nan == 0, "%s: %lld NaN (unwritten or invalid) elements", what, (long long)s.nan);
  TW_CHECK_MSG(s.over == 0, "%s: %lld elements beyond 1 bf16 ulp", what, (long long)s.over);
  TW_CHECK_MSG(out.guard_intact(), "%s: wrote past the end of y", what);
}

static void run_layer_norm(int64_t R, int64_t D, int mode, DType wdt, uint64_t seed) {
  std::vector<float> xv;
  if (mode == 0) xv = randn_fast(size_t(R * D), seed, 3.f);
  else if (mode == 1) { xv.assign(size_t(R * D), 1.f); }  // constant rows: variance 0
  else { xv.resize(size_t(R * D)); for (int64_t i = 0; i < R * D; ++i) xv[size_t(i)] = float(i % D) * 0.01f - 5.f; }  // arange
  for (int64_t i = 0; i < R * D && mode == 0; i += 97) xv[size_t(i)] += 20.f;  // outliers
  auto x = DevTensor::make(xv, DType::BF16, {R, D});
  const bool affine = wdt != DType::U8;
  DevTensor w, b;
  if (affine) {
    w = DevTensor::make(randn_fast(size_t(D), seed + 1, 0.5f), wdt, {D});
    b = DevTensor::make(randn_fast(size_t(D), seed + 2, 0.5f), wdt, {D});
  }
  auto y = DevTensor::poisoned(DType::BF16, {R, D});
  ops::LayerNormParams p;
  p.x = x.t; p.y = y.t; p.eps = 1e-6f;
  if (affine) { p.w = w.t; p.b = b.t; }
  ops::layer_norm(p);
  cuda::synchronize();
  std::vector<float> ref(size_t(R * D)), wh = affine ? w.host : std::vector<float>(), bh = affine ? b.host : std::vector<float>();
  ops::LayerNormParams c;
  c.x = cpu_view(x.host, {R, D}); c.y = cpu_view(ref, {R, D}); c.eps = 1e-6f;
  if (affine) { c.w = cpu_view(wh, {D}); c.b = cpu_view(bh, {D}); }
  ops::layer_norm(c);
  char what[96];
  std::snprintf(what, sizeof what, "layer_norm [%lld,%lld] mode %d %s", (long long)R, (long long)D, mode, affine ? dtype_name(wdt) : "no-affine");
  check_stats(what, compare_bf16(y.download(), ref, 1.f, 1e-6f), y);
}

static void run_rms_norm(int64_t R, int64_t D, int mode, DType wdt, uint64_t seed) {
  std::vector<float> xv = mode == 0 ? randn_fast(size_t(R * D), seed, 2.f) : std::vector<float>(size_t(R * D), 0.25f);
  auto x = DevTensor::make(xv, DType::BF16, {R, D});
  auto w = DevTensor::make(randn_fast(size_t(D), seed + 1, 1.f), wdt, {D});
  auto y = DevTensor::poisoned(DType::BF16, {R, D});
  ops::RmsNormParams p;
  p.x = x.t; p.w = w.t; p.y = y.t; p.eps = 1e-6f;
  ops::rms_norm(p);
  cuda::synchronize();
  std::vector<float> ref(size_t(R * D)), wh = w.host;
  ops::RmsNormParams c;
  c.x = cpu_view(x.host, {R, D}); c.w = cpu_view(wh, {D}); c.y = cpu_view(ref, {R, D}); c.eps = 1e-6f;
  ops::rms_norm(c);
  char what[96];
  std::snprintf(what, sizeof what, "rms_norm [%lld,%lld] mode %d w %s", (long long)R, (long long)D, mode, dtype_name(wdt));
  check_stats(what, compare_bf16(y.download(), ref, 1.f, 1e-6f), y);
}

int main() {
  try {
    run_layer_norm(7, 1536, 0, DType::U8, 1);     // no affine (norm1/norm2)
    run_layer_norm(33, 1536, 0, DType::F32, 2);   // affine fp32 (norm3)
    run_layer_norm(5, 5120, 0, DType::BF16, 3);
    run_layer_norm(4, 1536, 1, DType::U8, 4);     // constant rows
    run_layer_norm(3, 1000, 2, DType::F32, 5);    // arange, odd D
    run_layer_norm(32760, 1536, 0, DType::U8, 6); // Wan-1.3B 480p
    run_rms_norm(9, 1536, 0, DType::F32, 7);
    run_rms_norm(3, 5120, 1, DType::BF16, 8);
    run_rms_norm(32760, 1536, 0, DType::F32, 9);
    run_rms_norm(2, 130, 0, DType::F32, 10);
    // Wrong dtype is an error naming the op.
    auto x = DevTensor::make(std::vector<float>(16, 1.f), DType::F16, {2, 8});
    auto y = DevTensor::poisoned(DType::BF16, {2, 8});
    ops::LayerNormParams p;
    p.x = x.t; p.y = y.t;
    const std::string msg = twtest::expect_throw([&] { ops::layer_norm(p); });
    TW_CHECK_MSG(msg.find("layer_norm") != std::string::npos, "message: %s", msg.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("norm_cuda_test");
}
