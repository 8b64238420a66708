// linear_int8 on CUDA: TurboDiffusion's W8A8 linear (facts §3) with Hopper warpgroup MMA.
//   xq, xs = quantize_int8_block128(x)                         (bf16 x, 128×128 tiles)
//   y[m,n] = Σ_kb fma(float(Σ_{k∈kb} xq·wq), xs[m/128,kb]·ws[n/128,kb])   in kb order, fp32
//   y = bf16(y); y = bf16(y + b)
// The int32 partials are exact and the fma order is the reference's, so the result is bit-exact.
// GEMM: CTA tile 128×128 (two warpgroups of m64n128), K in steps of one 128-wide scale block:
// 4 × wgmma m64n128k32 s8 into int32, then one fp32 fma per output with the block's scale product
// (uniform over the CTA tile because tiles align with the 128×128 scale blocks). 4-stage cp.async
// pipeline of 32 KiB (A and B tiles), rows of 128 bytes in the SW128 layout.
#include "int8_block128.h"
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/cuda/sm90.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

using namespace sm90;
constexpr int kThreads = 256, kStages = 4, kTile = 128 * 128;
constexpr int kSmem = kStages * 2 * kTile + 1024;

struct GemmArgs {
  const int8_t* xq;
  const float* xs;  // [ceil(M/128), KB]
  const int8_t* wq;
  const float* ws;  // [ceil(N/128), KB]
  const float* bias;  // [N] or null (bf16-exact values)
  __nv_bfloat16* y;
  int64_t M, N, K;
  int KB;
};

__global__ void __launch_bounds__(kThreads, 1) gemm_w8a8_block128_kernel(const GemmArgs a) {
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int64_t n0 = int64_t(blockIdx.x) * 128, m0 = int64_t(blockIdx.y) * 128;
  const int KB = a.KB;

  auto load = [&](int kb, int stage) {
    unsigned char* sa = smem + stage * 2 * kTile;
    unsigned char* sb = sa + kTile;
#pragma unroll
    for (int i = 0; i < 1024 / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx >> 3, c = idx & 7;
      const int64_t m = m0 + r, n = n0 + r;
      const bool okm = m < a.M, okn = n < a.N;
      cp_async16(sa + swz128(r, c), a.xq + (okm ? m : 0) * a.K + int64_t(kb) * 128 + c * 16, okm);
      cp_async16(sb + swz128(r, c), a.wq + (okn ? n : 0) * a.K + int64_t(kb) * 128 + c * 16, okn);
    }
  };
  // cp.async pipeline kStages−1 blocks ahead. Per block: 4 MMAs into int32, wait, then the scaled
  // fp32 accumulation. (A two-accumulator version that overlaps the next block's MMAs with this
  // accumulation was serialized by ptxas, C7514, so it is not used; the two warpgroups overlap.)
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < KB) load(s, s);
    cp_async_commit();
  }
  const float* sx = a.xs + int64_t(blockIdx.y) * KB;
  const float* sw = a.ws + int64_t(blockIdx.x) * KB;
  float acc[64];
  int part[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) { acc[i] = 0.f; part[i] = 0; }

  for (int kb = 0; kb < KB; ++kb) {
    cp_async_wait<kStages - 2>();
    fence_proxy_async();
    __syncthreads();
    if (kb + kStages - 1 < KB) load(kb + kStages - 1, (kb + kStages - 1) % kStages);
    cp_async_commit();
    const unsigned char* sa = smem + (kb % kStages) * 2 * kTile;
    const uint64_t dA = desc_sw128(sa + wg * 64 * 128), dB = desc_sw128(sa + kTile);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wgmma_s8_m64n128k32(part, dA + 2 * kk, dB + 2 * kk, kk > 0);
    wgmma_commit();
    wgmma_wait0();
#pragma unroll
    for (int i = 0; i < 64; ++i) reg_fence(part[i]);
    const float sc = sx[kb] * sw[kb];
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] = fmaf(small_int_to_float(part[i]), sc, acc[i]);
  }
  cp_async_wait<0>();

  const int64_t row0 = m0 + wg * 64 + warp * 16 + (lane >> 2);
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int64_t col = n0 + j * 8 + 2 * (lane & 3);
    if (col >= a.N) continue;
    const float b0 = a.bias ? a.bias[col] : 0.f, b1 = a.bias && col + 1 < a.N ? a.bias[col + 1] : 0.f;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t row = row0 + 8 * r;
      if (row >= a.M) continue;
      float y0 = __bfloat162float(__float2bfloat16_rn(acc[4 * j + 2 * r]));
      float y1 = __bfloat162float(__float2bfloat16_rn(acc[4 * j + 2 * r + 1]));
      if (a.bias) { y0 += b0; y1 += b1; }
      __nv_bfloat16* out = a.y + row * a.N + col;
      if (col + 1 < a.N) *reinterpret_cast<__nv_bfloat162*>(out) = __floats2bfloat162_rn(y0, y1);
      else out[0] = __float2bfloat16_rn(y0);
    }
  }
}

__global__ void bias_to_f32_kernel(AnyFloatPtr b, float* out, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = b.load(i);
}

}  // namespace

void linear_int8(const ops::LinearInt8Params& p) {
  const char* op = "linear_int8";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.w_q, op, "w_q");
  check_cuda_tensor(p.w_scale, op, "w_scale");
  check_cuda_tensor(p.y, op, "y");
  check(p.x.dtype == DType::BF16 && p.y.dtype == DType::BF16, op, "on CUDA x and y must be bfloat16");
  const int64_t M = p.x.size(0), K = p.x.size(1), N = p.w_q.size(0);
  check(K % 128 == 0 && N % 2 == 0, op, "K must be a multiple of 128 and N even");
  const int64_t MB = (M + 127) / 128, KB = K / 128, NB = (N + 127) / 128;
  if (M == 0) return;
  ScratchPlan plan;
  const size_t o_q = plan.add(size_t(M * K)), o_s = plan.add(size_t(MB * KB) * 4), o_b = plan.add(size_t(N) * 4);
  char* base = static_cast<char*>(scratch(plan.total(), 0));
  int8_t* xq = reinterpret_cast<int8_t*>(base + o_q);
  float* xs = reinterpret_cast<float*>(base + o_s);
  const cudaStream_t s = stream();
  launch_quantize_int8_block128(p.x.data, DType::BF16, M, K, xq, xs, s);
  GemmArgs a;
  a.xq = xq; a.xs = xs;
  a.wq = static_cast<const int8_t*>(p.w_q.data);
  a.ws = static_cast<const float*>(p.w_scale.data);
  a.bias = nullptr;
  if (!p.b.empty()) {
    check_cuda_tensor(p.b, op, "b");
    check_float_dtype(p.b, op, "b");
    float* b = reinterpret_cast<float*>(base + o_b);
    bias_to_f32_kernel<<<unsigned((N + 255) / 256), 256, 0, s>>>(AnyFloatPtr::of(p.b), b, N);
    TW_CUDA_CHECK_LAUNCH(bias_to_f32_kernel);
    a.bias = b;
  }
  a.y = static_cast<__nv_bfloat16*>(p.y.data);
  a.M = M; a.N = N; a.K = K; a.KB = int(KB);
  static bool attr = [] {
    TW_CUDA_CHECK(cudaFuncSetAttribute(gemm_w8a8_block128_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    return true;
  }();
  (void)attr;
  gemm_w8a8_block128_kernel<<<dim3(unsigned(NB), unsigned(MB)), kThreads, kSmem, s>>>(a);
  TW_CUDA_CHECK_LAUNCH(gemm_w8a8_block128_kernel);
}

}  // namespace tw::cuda
