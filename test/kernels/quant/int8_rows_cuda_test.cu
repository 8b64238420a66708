// quantize_int8_rows / dequantize_int8_rows on CUDA vs the CPU reference. Both ops are elementwise
// fp32 arithmetic with one rounding per step (max is exact), so results must match bit for bit:
// the check allows no difference. Shapes: odd K (scalar dequantize path), K % 16 == 0 (16-wide
// path), a zero row, outliers, an f32 output, the real umT5-XXL shapes, and a dequantize into a
// buffer view that is not 16-byte aligned (must fall back, not fault).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops_quant.h"

using namespace tw;
using namespace tw::cuda::testing;

static void run(int64_t N, int64_t K, DType xdt, DType ydt, uint64_t seed, size_t y_offset = 0) {
  std::vector<float> xv = randn_fast(size_t(N * K), seed, 0.02f);
  for (int64_t n = 0; n < N; n += 7) xv[size_t(n * K + (n * 13) % K)] = (n % 2 ? -3.f : 3.f);  // outliers
  if (N > 2) std::fill(xv.begin() + K, xv.begin() + 2 * K, 0.f);                              // row 1: zeros
  auto x = DevTensor::make(xv, xdt, {N, K});
  auto q = DevTensor::poisoned(DType::I8, {N, K});
  auto sc = DevTensor::poisoned(DType::F32, {N});
  ops::quantize_int8_rows({x.t, q.t, sc.t});
  // dequantize into y (optionally at a byte offset inside a larger buffer, to hit the unaligned path)
  const size_t ybytes = size_t(N * K) * dtype_size(ydt);
  cuda::DeviceBuffer ybuf(ybytes + y_offset + kGuardBytes);
  TW_CUDA_CHECK(cudaMemset(ybuf.get(), 0xFF, ybytes + y_offset));
  TW_CUDA_CHECK(cudaMemset(static_cast<char*>(ybuf.get()) + y_offset + ybytes, kGuard, kGuardBytes));
  Tensor y = Tensor::view(static_cast<char*>(ybuf.get()) + y_offset, ydt, {N, K}, Device::CUDA);
  ops::dequantize_int8_rows({q.t, sc.t, y});
  cuda::synchronize();

  // CPU reference on exactly the stored input values
  std::vector<int8_t> qr(static_cast<size_t>(N * K));
  std::vector<float> sr(static_cast<size_t>(N)), yr(static_cast<size_t>(N * K));
  std::vector<uint16_t> xb;
  Tensor xc = cpu_view(x.host, {N, K});
  if (xdt == DType::BF16) {
    xb.resize(x.host.size());
    for (size_t i = 0; i < xb.size(); ++i) xb[i] = f32_to_bf16(x.host[i]);
    xc = Tensor::view(xb.data(), DType::BF16, {N, K});
  }
  ops::quantize_int8_rows({xc, Tensor::view(qr.data(), DType::I8, {N, K}), Tensor::view(sr.data(), DType::F32, {N})});
  ops::dequantize_int8_rows({Tensor::view(qr.data(), DType::I8, {N, K}), Tensor::view(sr.data(), DType::F32, {N}), cpu_view(yr, {N, K})});

  const std::vector<float> qg = q.download(), sg = sc.download();
  std::vector<float> yg(static_cast<size_t>(N * K));
  cuda::download_as_f32(y.data, N * K, ydt, yg.data());
  int64_t qdiff = 0, sdiff = 0, ydiff = 0;
  for (size_t i = 0; i < qr.size(); ++i) qdiff += qg[i] != float(qr[i]);
  for (size_t i = 0; i < sr.size(); ++i) sdiff += sg[i] != sr[i];
  for (size_t i = 0; i < yr.size(); ++i) {
    const float want = ydt == DType::BF16 ? round_bf16(yr[i]) : yr[i];
    ydiff += !(yg[i] == want);  // NaN (an unwritten element) counts as a difference
  }
  std::vector<unsigned char> guard(kGuardBytes);
  TW_CUDA_CHECK(cudaMemcpy(guard.data(), static_cast<char*>(ybuf.get()) + y_offset + ybytes, kGuardBytes, cudaMemcpyDeviceToHost));
  const bool y_guard = std::all_of(guard.begin(), guard.end(), [](unsigned char c) { return c == kGuard; });
  std::printf("  int8 rows [%lld,%lld] x %s → y %s (offset %zu): q diffs %lld, scale diffs %lld, y diffs %lld of %lld\n", (long long)N,
              (long long)K, dtype_name(xdt), dtype_name(ydt), y_offset, (long long)qdiff, (long long)sdiff, (long long)ydiff,
              (long long)yr.size());
  TW_CHECK(qdiff == 0);
  TW_CHECK(sdiff == 0);
  TW_CHECK(ydiff == 0);
  TW_CHECK(q.guard_intact() && sc.guard_intact() && y_guard);
}

// The dequantize kernel alone at the largest umT5-XXL weight, timed (it runs 7× per layer).
static void time_dequantize(int64_t N, int64_t K) {
  cuda::DeviceBuffer q(size_t(N * K)), s(size_t(N) * 4), y(size_t(N * K) * 2);
  TW_CUDA_CHECK(cudaMemset(q.get(), 1, q.bytes()));
  TW_CUDA_CHECK(cudaMemset(s.get(), 0, s.bytes()));
  ops::DequantizeInt8RowsParams p{q.view(DType::I8, {N, K}), s.view(DType::F32, {N}), y.view(DType::BF16, {N, K})};
  for (int i = 0; i < 3; ++i) ops::dequantize_int8_rows(p);
  cudaEvent_t a, b;
  TW_CUDA_CHECK(cudaEventCreate(&a));
  TW_CUDA_CHECK(cudaEventCreate(&b));
  const int iters = 50;
  TW_CUDA_CHECK(cudaEventRecord(a, cuda::stream()));
  for (int i = 0; i < iters; ++i) ops::dequantize_int8_rows(p);
  TW_CUDA_CHECK(cudaEventRecord(b, cuda::stream()));
  TW_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  TW_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  ms /= iters;
  std::printf("  dequantize_int8_rows [%lld,%lld] → bf16: %.1f us, %.0f GB/s (3 bytes per weight)\n", (long long)N, (long long)K, ms * 1e3,
              3.0 * double(N * K) / (ms * 1e-3) / 1e9);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

int main() {
  try {
    run(37, 301, DType::F32, DType::F32, 1);        // odd K: scalar paths
    run(64, 4096, DType::BF16, DType::BF16, 2);     // 16-wide dequantize
    run(50, 160, DType::BF16, DType::BF16, 3, 2);   // y 2 bytes off alignment: scalar fallback
    run(4096, 10240, DType::BF16, DType::BF16, 4);  // umT5-XXL fc2 [dim, dim_ffn]
    run(10240, 4096, DType::F32, DType::BF16, 5);   // gate/fc1 [dim_ffn, dim] from an f32 checkpoint
    time_dequantize(10240, 4096);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("int8_rows_cuda_test");
}
