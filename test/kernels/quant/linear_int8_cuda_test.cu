// quantize_int8_block128 and linear_int8 (W8A8, 128×128 block scales) on CUDA vs the CPU reference.
// Both are exact algorithms here: the quantizer is elementwise fp32 math with the same rounding, and
// the GEMM's int32 block partials are exact and combined with the reference's fma order, so the
// results must match bit for bit (the check allows nothing but reports any difference in ulps).
#include <algorithm>
#include <cmath>

#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"

using namespace tw;
using namespace tw::cuda::testing;

static void run_quantize(int64_t M, int64_t K, DType dt, uint64_t seed) {
  std::vector<float> xv = randn_fast(size_t(M * K), seed, 2.f);
  if (xv.size() > 10) { xv[3] = 40.f; xv[7] = -40.f; }
  auto x = DevTensor::make(xv, dt, {M, K});
  const int64_t MB = (M + 127) / 128, KB = (K + 127) / 128;
  auto q = DevTensor::poisoned(DType::I8, {M, K});
  auto sc = DevTensor::poisoned(DType::F32, {MB, KB});
  ops::QuantizeInt8Params p;
  p.x = x.t; p.q = q.t; p.scale = sc.t;
  ops::quantize_int8_block128(p);
  cuda::synchronize();
  std::vector<int8_t> qr(size_t(M * K));
  std::vector<float> sr(size_t(MB * KB));
  std::vector<uint16_t> xb;
  ops::QuantizeInt8Params c;
  if (dt == DType::BF16) {
    xb.resize(x.host.size());
    for (size_t i = 0; i < xb.size(); ++i) xb[i] = f32_to_bf16(x.host[i]);
    c.x = Tensor::view(xb.data(), DType::BF16, {M, K});
  } else {
    c.x = cpu_view(x.host, {M, K});
  }
  c.q = Tensor::view(qr.data(), DType::I8, {M, K});
  c.scale = Tensor::view(sr.data(), DType::F32, {MB, KB});
  ops::quantize_int8_block128(c);
  const std::vector<float> qg = q.download(), sg = sc.download();
  int64_t qdiff = 0, sdiff = 0;
  for (size_t i = 0; i < qr.size(); ++i) qdiff += qg[i] != float(qr[i]);
  for (size_t i = 0; i < sr.size(); ++i) sdiff += sg[i] != sr[i];
  std::printf("  quantize_int8_block128 [%lld,%lld] %s: q mismatches %lld/%lld, scale mismatches %lld/%lld\n", (long long)M,
              (long long)K, dtype_name(dt), (long long)qdiff, (long long)qr.size(), (long long)sdiff, (long long)sr.size());
  TW_CHECK(qdiff == 0);
  TW_CHECK(sdiff == 0);
  TW_CHECK(q.guard_intact());
  TW_CHECK(sc.guard_intact());
}

// rows: the [begin, end) row ranges compared against the CPU reference (multiples of 128 at the start).
static void run_linear(int64_t M, int64_t N, int64_t K, bool bias, uint64_t seed, std::vector<std::pair<int64_t, int64_t>> rows) {
  // Weights quantized once by the CPU quantizer, as the -quant checkpoints store them.
  std::vector<float> wv = randn_fast(size_t(N * K), seed, 0.02f);
  const int64_t NB = (N + 127) / 128, KB = K / 128;
  std::vector<int8_t> wq(size_t(N * K));
  std::vector<float> ws(size_t(NB * KB));
  ops::QuantizeInt8Params wqp;
  wqp.x = cpu_view(wv, {N, K});
  wqp.q = Tensor::view(wq.data(), DType::I8, {N, K});
  wqp.scale = Tensor::view(ws.data(), DType::F32, {NB, KB});
  ops::quantize_int8_block128(wqp);
  cuda::DeviceBuffer wq_buf(size_t(N * K));
  TW_CUDA_CHECK(cudaMemcpy(wq_buf.get(), wq.data(), size_t(N * K), cudaMemcpyHostToDevice));
  auto ws_d = DevTensor::make(ws, DType::F32, {NB, KB});
  std::vector<float> bv = randn_fast(size_t(N), seed + 1, 0.5f);
  for (auto& v : bv) v = round_bf16(v);
  auto b_d = DevTensor::make(bv, DType::BF16, {N});
  auto x = DevTensor::make(randn_fast(size_t(M * K), seed + 2, 1.f), DType::BF16, {M, K});
  auto y = DevTensor::poisoned(DType::BF16, {M, N});
  ops::LinearInt8Params p;
  p.x = x.t; p.w_q = wq_buf.view(DType::I8, {N, K}); p.w_scale = ws_d.t; p.y = y.t;
  if (bias) p.b = b_d.t;
  ops::linear_int8(p);
  cuda::synchronize();
  const std::vector<float> got = y.download();
  int64_t nan = 0;
  for (float v : got) nan += std::isnan(v);
  int64_t diff = 0, n = 0;
  double max_ulps = 0;
  for (auto [r0, r1] : rows) {
    const int64_t Mr = r1 - r0;
    std::vector<float> xs(x.host.begin() + r0 * K, x.host.begin() + r1 * K), ref(size_t(Mr * N)), bh = bv;
    ops::LinearInt8Params c;
    c.x = cpu_view(xs, {Mr, K});
    c.w_q = Tensor::view(wq.data(), DType::I8, {N, K});
    c.w_scale = Tensor::view(ws.data(), DType::F32, {NB, KB});
    c.y = cpu_view(ref, {Mr, N});
    if (bias) c.b = cpu_view(bh, {N});
    ops::linear_int8(c);
    for (int64_t i = 0; i < Mr * N; ++i) {
      const float g = got[size_t(r0 * N + i)], r = ref[size_t(i)];
      ++n;
      if (g != r) { ++diff; max_ulps = std::max(max_ulps, std::fabs(double(g) - r) / bf16_ulp(r)); }
    }
  }
  std::printf("  linear_int8 M%lld N%lld K%lld bias %d: %lld/%lld outputs differ from the CPU reference (max %.1f ulp)\n", (long long)M,
              (long long)N, (long long)K, int(bias), (long long)diff, (long long)n, max_ulps);
  TW_CHECK(nan == 0);
  TW_CHECK(diff == 0);
  TW_CHECK(y.guard_intact());
}

int main() {
  try {
    run_quantize(300, 200, DType::F32, 1);   // partial tiles both ways
    run_quantize(257, 384, DType::BF16, 2);
    run_quantize(32760, 1536, DType::BF16, 3);
    run_linear(300, 256, 384, true, 4, {{0, 300}});
    run_linear(1000, 1536, 1536, false, 5, {{0, 1000}});
    run_linear(130, 200, 256, true, 6, {{0, 130}});  // N not a multiple of 128
    run_linear(32760, 1536, 8960, true, 7, {{0, 256}, {32640, 32760}});
    run_linear(32760, 8960, 1536, true, 8, {{0, 128}, {32640, 32760}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("linear_int8_cuda_test");
}
