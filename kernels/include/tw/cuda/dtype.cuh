// Device-side dtype helpers: reading any float dtype as f32 and writing f32 as BF16/F32.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "tw/tensor.h"

namespace tw::cuda {

// A read-only pointer to a float tensor of any float dtype (the dtype branch is uniform across a
// kernel, so it costs nothing measurable). Null means "absent" (reads give `fallback`).
struct AnyFloatPtr {
  const void* p = nullptr;
  DType dt = DType::F32;

  static AnyFloatPtr of(const Tensor& t) { return AnyFloatPtr{t.empty() ? nullptr : t.data, t.dtype}; }
  __device__ __forceinline__ float load(int64_t i, float fallback = 0.f) const {
    if (p == nullptr) return fallback;
    switch (dt) {
      case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
      case DType::F16: return __half2float(static_cast<const __half*>(p)[i]);
      default: return static_cast<const float*>(p)[i];
    }
  }
};

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Block-wide sum over all threads (blockDim.x a multiple of 32, ≤ 1024). `red` needs 32 floats.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float block_sum(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // `red` may still be read by a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float s = lane < nwarps ? red[lane] : 0.f;
  return warp_sum(s);
}

}  // namespace tw::cuda
