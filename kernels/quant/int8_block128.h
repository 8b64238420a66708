// Launcher of the 128×128 block-int8 quantizer (quantize_int8_block128.cu), shared with linear_int8.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tw/tensor.h"

namespace tw::cuda {

// x [M, K] (F32 or BF16, device) → q [M, K] int8, scale [ceil(M/128), ceil(K/128)] f32 (TD's quantizer).
void launch_quantize_int8_block128(const void* x, DType dt, int64_t M, int64_t K, int8_t* q, float* scale, cudaStream_t s);

}  // namespace tw::cuda
