// bf16 GEMM through cuBLASLt for the row-major layouts the ops use:
//   y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]) (+ c[M,N]),  fp32 accumulation, one rounding to bf16.
// Leading dimensions are in elements (row strides). Plans (descriptors + heuristic algo) are cached
// per shape, so a steady-state call costs one cublasLtMatmul.
#pragma once

#include <cstdint>

namespace tw::cuda {

struct GemmBf16Args {
  int64_t M = 0, N = 0, K = 0;
  const void* x = nullptr; int64_t ldx = 0;   // bf16 [M, K]
  const void* w = nullptr; int64_t ldw = 0;   // bf16 [N, K]
  const void* bias = nullptr;                 // bf16 [N] or null
  const void* c = nullptr; int64_t ldc = 0;   // bf16 [M, N] added to the product, or null
  void* y = nullptr; int64_t ldy = 0;         // bf16 [M, N]
};
void gemm_bf16(const GemmBf16Args& a);

}  // namespace tw::cuda
