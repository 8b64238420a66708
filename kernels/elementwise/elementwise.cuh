// Shared launcher for the elementwise ops: a grid-stride loop over rows × D with a per-element
// functor, instantiated for BF16 and F32 activations (in place allowed, so no __restrict__).
#pragma once

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

inline void check_act_dtype(const Tensor& t, const char* op, const char* name) {
  check(t.dtype == DType::BF16 || t.dtype == DType::F32, op,
        std::string(name) + " must be bfloat16 or float32 on CUDA, got " + dtype_name(t.dtype));
}

}  // namespace tw::cuda
