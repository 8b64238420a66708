// Shared launcher for the elementwise ops: a grid-stride loop over rows × D with a per-element
// functor, instantiated for BF16 and F32 activations (in place allowed, so no __restrict__).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"

namespace tw::cuda {

template <class T, class F>
__global__ void rowwise_kernel(int64_t n, int64_t D, F f) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    f(i, i % D);
}

template <class F>
void launch_rowwise(int64_t n, int64_t D, F f) {
  if (n == 0) return;
  const int threads = 256;
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 65536) blocks = 65536;
  rowwise_kernel<float, F><<<unsigned(blocks), threads, 0, stream()>>>(n, D, f);
  TW_CUDA_CHECK_LAUNCH(rowwise_kernel);
}

// 8 consecutive elements ↔ fp32 registers with one 16-byte access (bf16) or two (f32).
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float (&v)[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat16* h = reinterpret_cast<const __nv_bfloat16*>(&raw);
#pragma unroll
  for (int e = 0; e < 8; ++e) v[e] = __bfloat162float(h[e]);
}
__device__ __forceinline__ void load8(const float* p, float (&v)[8]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ __forceinline__ void store8(__nv_bfloat16* p, const float (&v)[8]) {
  uint4 raw;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int e = 0; e < 4; ++e) h[e] = __floats2bfloat162_rn(v[2 * e], v[2 * e + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}
__device__ __forceinline__ void store8(float* p, const float (&v)[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The vectorized path needs whole groups of 8 inside a row and 16-byte aligned pointers.
inline bool vec8_ok(int64_t n, int64_t D, std::initializer_list<const void*> ptrs) {
  if (n % 8 != 0 || D % 8 != 0) return false;
  for (const void* p : ptrs)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// Grid-stride over groups of 8 elements: f.vec(i, c) handles elements i..i+7 (c = i mod D).
template <class F>
__global__ void rowwise_vec8_kernel(int64_t n8, int64_t D, F f) {
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < n8; g += int64_t(gridDim.x) * blockDim.x)
    f.vec(g * 8, (g * 8) % D);
}

// Runs f.vec over groups of 8 when `vec`, else f(i, c) per element.
template <class F>
void launch_elementwise(int64_t n, int64_t D, bool vec, F f) {
  if (n == 0) return;
  if (!vec) { launch_rowwise(n, D, f); return; }
  const int threads = 256;
  const int64_t n8 = n / 8;
  int64_t blocks = (n8 + threads - 1) / threads;
  if (blocks > 65536) blocks = 65536;
  rowwise_vec8_kernel<F><<<unsigned(blocks), threads, 0, stream()>>>(n8, D, f);
  TW_CUDA_CHECK_LAUNCH(rowwise_vec8_kernel);
}

inline void check_act_dtype(const Tensor& t, const char* op, const char* name) {
  check(t.dtype == DType::BF16 || t.dtype == DType::F32, op,
        std::string(name) + " must be bfloat16 or float32 on CUDA, got " + dtype_name(t.dtype));
}

}  // namespace tw::cuda
