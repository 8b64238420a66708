// quantize_int8_block128 on CUDA: TurboDiffusion's W8A8 quantizer (facts §3), one CTA per 128×128
// tile: amax = max(1e-8, max|x|), q = sat_s8(rne(x · (128/amax))), scale = amax/128. Elements
// outside the matrix count as 0. x F32 or BF16 (used as stored: no extra rounding), q int8, scale f32.
#include "int8_block128.h"
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

template <class T>
__global__ void quantize128_kernel(const T* __restrict__ x, int64_t M, int64_t K, int8_t* __restrict__ q, float* __restrict__ scale) {
  __shared__ float red[8];
  const int tid = threadIdx.x, cg = tid & 15, r0 = tid >> 4;  // 16 threads × 8 columns per row, 16 rows per pass
  const int64_t m0 = int64_t(blockIdx.y) * 128, k0 = int64_t(blockIdx.x) * 128 + cg * 8;
  float v[8][8];
  float amax = 0.f;
  const bool vec = (K % 8 == 0) && k0 + 8 <= K;  // 8 whole elements, 16-byte aligned for bf16
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t m = m0 + r0 + 16 * i;
    if constexpr (sizeof(T) == 2) {
      if (vec && m < M) {
        const uint4 raw = *reinterpret_cast<const uint4*>(x + m * K + k0);
        const __nv_bfloat16* h = reinterpret_cast<const __nv_bfloat16*>(&raw);
#pragma unroll
        for (int e = 0; e < 8; ++e) { v[i][e] = __bfloat162float(h[e]); amax = fmaxf(amax, fabsf(v[i][e])); }
        continue;
      }
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int64_t k = k0 + e;
      v[i][e] = (m < M && k < K) ? to_f32(x[m * K + k]) : 0.f;
      amax = fmaxf(amax, fabsf(v[i][e]));
    }
  }
  amax = warp_max(amax);
  if ((tid & 31) == 0) red[tid >> 5] = amax;
  __syncthreads();
  amax = 1e-8f;
#pragma unroll
  for (int w = 0; w < 8; ++w) amax = fmaxf(amax, red[w]);
  const float mul = 128.f / amax;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t m = m0 + r0 + 16 * i;
    if (m >= M) continue;
    if (vec) {
      uint32_t w[2] = {0, 0};
#pragma unroll
      for (int e = 0; e < 8; ++e)
        w[e >> 2] |= uint32_t(uint8_t(int8_t(max(-128, min(127, __float2int_rn(v[i][e] * mul)))))) << (8 * (e & 3));
      *reinterpret_cast<uint2*>(q + m * K + k0) = make_uint2(w[0], w[1]);
      continue;
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int64_t k = k0 + e;
      if (k < K) q[m * K + k] = int8_t(max(-128, min(127, __float2int_rn(v[i][e] * mul))));
    }
  }
  if (tid == 0) scale[int64_t(blockIdx.y) * gridDim.x + blockIdx.x] = amax / 128.f;
}

}  // namespace

void launch_quantize_int8_block128(const void* x, DType dt, int64_t M, int64_t K, int8_t* q, float* scale, cudaStream_t s) {
  if (M == 0 || K == 0) return;
  const dim3 grid(unsigned((K + 127) / 128), unsigned((M + 127) / 128));
  if (dt == DType::BF16) quantize128_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(static_cast<const __nv_bfloat16*>(x), M, K, q, scale);
  else quantize128_kernel<float><<<grid, 256, 0, s>>>(static_cast<const float*>(x), M, K, q, scale);
  TW_CUDA_CHECK_LAUNCH(quantize128_kernel);
}

void quantize_int8_block128(const ops::QuantizeInt8Params& p) {
  const char* op = "quantize_int8_block128";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.q, op, "q");
  check_cuda_tensor(p.scale, op, "scale");
  check(p.x.dtype == DType::BF16 || p.x.dtype == DType::F32, op, std::string("x must be bfloat16 or float32, got ") + dtype_name(p.x.dtype));
  check(p.x.ndim == 2, op, "x must be [M, K]");
  launch_quantize_int8_block128(p.x.data, p.x.dtype, p.x.size(0), p.x.size(1), static_cast<int8_t*>(p.q.data),
                                static_cast<float*>(p.scale.data), stream());
}

}  // namespace tw::cuda
