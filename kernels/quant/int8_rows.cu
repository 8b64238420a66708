// quantize_int8_rows / dequantize_int8_rows on CUDA (ops_quant.h); bit-exact with the CPU reference
// (kernels/quant/int8_rows.cpp): the same fp32 operations, each rounded once.
//   quantize: one CTA per row (a load-time op: 4.6 G weights of umT5-XXL once per model load);
//   dequantize: runs before every GEMM of the int8 umT5 encoder, so it is the bandwidth-bound path —
//   16 int8 in (one 16-byte load), 16 bf16 out (two 16-byte stores) per thread.
#include <cuda_bf16.h>

#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_quant.h"

namespace tw::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void quantize_rows_kernel(const T* __restrict__ x, int64_t N, int64_t K, int8_t* __restrict__ q,
                                     float* __restrict__ scale) {
  __shared__ float red[kThreads / 32];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* xr = x + n * K;
    float amax = 0.f;
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) amax = fmaxf(amax, fabsf(to_f32(xr[k])));
    amax = warp_max(amax);
    __syncthreads();  // red may still be read by the previous row
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = amax;
    __syncthreads();
    amax = 0.f;
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w) amax = fmaxf(amax, red[w]);
    int8_t* qr = q + n * K;
    if (amax == 0.f) {
      for (int64_t k = threadIdx.x; k < K; k += blockDim.x) qr[k] = 0;
      if (threadIdx.x == 0) scale[n] = 0.f;
      continue;
    }
    const float mul = 127.f / amax;  // IEEE division (no fast-math), as the CPU reference
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const float v = to_f32(xr[k]) * mul;
      qr[k] = isnan(v) ? int8_t(0) : int8_t(max(-128, min(127, __float2int_rn(v))));  // as ref::sat_rne_s8
    }
    if (threadIdx.x == 0) scale[n] = amax / 127.f;
  }
}

template <class TY>
__global__ void dequantize_rows_kernel(const int8_t* __restrict__ q, const float* __restrict__ scale, int64_t N, int64_t K,
                                       TY* __restrict__ y) {
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    const float s = scale[n];
    for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < K; k += int64_t(gridDim.x) * blockDim.x)
      y[n * K + k] = from_f32<TY>(float(q[n * K + k]) * s);
  }
}

// K16 = K / 16 groups of 16 per row; q and y 16-byte aligned.
__global__ void dequantize_rows_bf16_vec16_kernel(const int8_t* __restrict__ q, const float* __restrict__ scale, int64_t N,
                                                  int64_t K16, __nv_bfloat16* __restrict__ y) {
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    const float s = scale[n];
    for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < K16; g += int64_t(gridDim.x) * blockDim.x) {
      const int64_t i = n * K16 + g;
      const int4 raw = reinterpret_cast<const int4*>(q)[i];
      const int8_t* b = reinterpret_cast<const int8_t*>(&raw);
      uint4 out[2];
      __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(out);
#pragma unroll
      for (int j = 0; j < 8; ++j) o[j] = __floats2bfloat162_rn(float(b[2 * j]) * s, float(b[2 * j + 1]) * s);  // .x = lower address
      reinterpret_cast<uint4*>(y)[2 * i] = out[0];
      reinterpret_cast<uint4*>(y)[2 * i + 1] = out[1];
    }
  }
}

unsigned capped(int64_t v, int64_t cap) { return unsigned(v < 1 ? 1 : (v > cap ? cap : v)); }

}  // namespace

void quantize_int8_rows(const ops::QuantizeInt8RowsParams& p) {
  const char* op = "quantize_int8_rows";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.q, op, "q");
  check_cuda_tensor(p.scale, op, "scale");
  const int64_t N = p.x.size(0), K = p.x.size(1);
  if (N == 0 || K == 0) return;
  const unsigned grid = capped(N, 65535);
  if (p.x.dtype == DType::BF16)
    quantize_rows_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream()>>>(static_cast<const __nv_bfloat16*>(p.x.data), N, K,
                                                                         static_cast<int8_t*>(p.q.data), static_cast<float*>(p.scale.data));
  else
    quantize_rows_kernel<float><<<grid, kThreads, 0, stream()>>>(static_cast<const float*>(p.x.data), N, K, static_cast<int8_t*>(p.q.data),
                                                                 static_cast<float*>(p.scale.data));
  TW_CUDA_CHECK_LAUNCH(quantize_rows_kernel);
}

void dequantize_int8_rows(const ops::DequantizeInt8RowsParams& p) {
  const char* op = "dequantize_int8_rows";
  check_cuda_tensor(p.q, op, "q");
  check_cuda_tensor(p.scale, op, "scale");
  check_cuda_tensor(p.y, op, "y");
  const int64_t N = p.q.size(0), K = p.q.size(1);
  if (N == 0 || K == 0) return;
  const int8_t* q = static_cast<const int8_t*>(p.q.data);
  const float* s = static_cast<const float*>(p.scale.data);
  const bool aligned = reinterpret_cast<uintptr_t>(p.q.data) % 16 == 0 && reinterpret_cast<uintptr_t>(p.y.data) % 16 == 0;
  if (p.y.dtype == DType::BF16 && aligned && K % 16 == 0) {
    const dim3 grid(capped((K / 16 + kThreads - 1) / kThreads, 65535), capped(N, 65535));
    dequantize_rows_bf16_vec16_kernel<<<grid, kThreads, 0, stream()>>>(q, s, N, K / 16, static_cast<__nv_bfloat16*>(p.y.data));
    TW_CUDA_CHECK_LAUNCH(dequantize_rows_bf16_vec16_kernel);
    return;
  }
  const dim3 grid(capped((K + kThreads - 1) / kThreads, 65535), capped(N, 65535));
  if (p.y.dtype == DType::BF16)
    dequantize_rows_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream()>>>(q, s, N, K, static_cast<__nv_bfloat16*>(p.y.data));
  else
    dequantize_rows_kernel<float><<<grid, kThreads, 0, stream()>>>(q, s, N, K, static_cast<float*>(p.y.data));
  TW_CUDA_CHECK_LAUNCH(dequantize_rows_kernel);
}

}  // namespace tw::cuda
