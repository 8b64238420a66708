// activation, modulate and gated_add on CUDA vs the CPU reference on the same bf16-rounded inputs.
// fp32 math then one bf16 rounding: every element within one bf16 ulp of the fp32 reference
// (transcendental functions differ in the last fp32 bits between host and device).
#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"

using namespace tw;
using namespace tw::cuda::testing;

static void report(const char* what, const Stats& s, const DevTensor& out) {
  std::printf("  %-44s rel_l2 %.2e  max_abs %.2e  over_1ulp %lld/%lld\n", what, s.rel_l2, s.max_abs, (long long)s.over, (long long)s.n);
  TW_CHECK_MSG(s.nan == 0, "%s: %lld NaN elements", what, (long long)s.nan);
  TW_CHECK_MSG(s.over == 0, "%s: %lld elements beyond 1 bf16 ulp", what, (long long)s.over);
  TW_CHECK_MSG(out.guard_intact(), "%s: wrote past the end", what);
}

static void run_activation(int64_t R, int64_t D, ops::Activation act, uint64_t seed) {
  std::vector<float> xv = randn_fast(size_t(R * D), seed, 3.f);
  xv[0] = 0.f; if (xv.size() > 3) { xv[1] = -30.f; xv[2] = 30.f; }
  auto x = DevTensor::make(xv, DType::BF16, {R, D});
  auto y = DevTensor::poisoned(DType::BF16, {R, D});
  ops::ActivationParams p;
  p.x = x.t; p.y = y.t; p.act = act;
  ops::activation(p);
  cuda::synchronize();
  std::vector<float> ref(size_t(R * D));
  ops::ActivationParams c;
  c.x = cpu_view(x.host, {R, D}); c.y = cpu_view(ref, {R, D}); c.act = act;
  ops::activation(c);
  char what[96];
  std::snprintf(what, sizeof what, "activation %s [%lld,%lld]", act == ops::Activation::GeluTanh ? "gelu_tanh" : "silu", (long long)R, (long long)D);
  report(what, compare_bf16(y.download(), ref, 1.f, 1e-6f), y);
}

static void run_modulate(int64_t R, int64_t D, uint64_t seed) {
  auto x = DevTensor::make(randn_fast(size_t(R * D), seed, 1.f), DType::BF16, {R, D});
  auto sc = DevTensor::make(randn_fast(size_t(D), seed + 1, 0.3f), DType::F32, {D});
  auto sh = DevTensor::make(randn_fast(size_t(D), seed + 2, 0.3f), DType::F32, {D});
  auto y = DevTensor::poisoned(DType::BF16, {R, D});
  ops::ModulateParams p;
  p.x = x.t; p.scale = sc.t; p.shift = sh.t; p.y = y.t;
  ops::modulate(p);
  cuda::synchronize();
  std::vector<float> ref(size_t(R * D)), sch = sc.host, shh = sh.host;
  ops::ModulateParams c;
  c.x = cpu_view(x.host, {R, D}); c.scale = cpu_view(sch, {D}); c.shift = cpu_view(shh, {D}); c.y = cpu_view(ref, {R, D});
  ops::modulate(c);
  char what[96];
  std::snprintf(what, sizeof what, "modulate [%lld,%lld]", (long long)R, (long long)D);
  // x·(1+s)+t: the device uses one fma, the host may round the product first → allow 1 ulp + tiny atol.
  report(what, compare_bf16(y.download(), ref, 1.f, 1e-6f), y);
}

static void run_gated_add(int64_t R, int64_t D, bool gated, uint64_t seed) {
  auto x = DevTensor::make(randn_fast(size_t(R * D), seed, 1.f), DType::BF16, {R, D});
  auto y = DevTensor::make(randn_fast(size_t(R * D), seed + 1, 1.f), DType::BF16, {R, D});
  DevTensor g;
  if (gated) g = DevTensor::make(randn_fast(size_t(D), seed + 2, 0.5f), DType::F32, {D});
  ops::GatedAddParams p;
  p.x = x.t; p.y = y.t;
  if (gated) p.gate = g.t;
  ops::gated_add(p);
  cuda::synchronize();
  std::vector<float> ref = x.host, yh = y.host, gh = gated ? g.host : std::vector<float>();
  ops::GatedAddParams c;
  c.x = cpu_view(ref, {R, D}); c.y = cpu_view(yh, {R, D});
  if (gated) c.gate = cpu_view(gh, {D});
  ops::gated_add(c);
  char what[96];
  std::snprintf(what, sizeof what, "gated_add %s [%lld,%lld]", gated ? "gate" : "plain", (long long)R, (long long)D);
  report(what, compare_bf16(x.download(), ref, 1.f, 1e-6f), x);
}

int main() {
  try {
    run_activation(3, 1000, ops::Activation::GeluTanh, 1);
    run_activation(32760, 8960 / 8, ops::Activation::GeluTanh, 2);
    run_activation(5, 777, ops::Activation::Silu, 3);
    run_activation(1, 5120, ops::Activation::Silu, 4);
    run_modulate(7, 1536, 5);
    run_modulate(32760, 1536, 6);
    run_modulate(3, 5120, 7);
    run_gated_add(7, 1536, true, 8);
    run_gated_add(5, 1000, false, 9);
    run_gated_add(32760, 1536, true, 10);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("elementwise_cuda_test");
}
