// Internal to kernels/conv: the direct conv for Cout ≤ 4 (conv3d_narrow.cu) used by conv3d.cu's
// channels-last path. Included by CUDA sources only.
#pragma once

#include <cuda_bf16.h>

#include "tw/cuda/dtype.cuh"

namespace tw::cuda::convnarrow {

// Stride-1 conv: y[co, to, ho, wo] = Σ wr[co, tap, ci] · xpc[to + dt, ho + dh, wo + dw, ci] + b[co].
struct Args {
  const __nv_bfloat16* xpc;  // padded input, channels last [Tp, Hp, Wp, Cin]
  const __nv_bfloat16* wr;   // weights [Cout, taps, Cin]
  AnyFloatPtr b;             // [Cout] or null
  __nv_bfloat16* y;          // [Cout, To, Ho, Wo]
  const __nv_bfloat16* res;  // y's shape, added before the rounding, or null
  int Cin, Cout, kt, kh, kw;
  int Hp, Wp, To, Ho, Wo;
};

// Runs and returns true, or returns false (nothing launched) outside its range: 1 ≤ Cout ≤ 4,
// Cin % 32 == 0, weights of at most ~90 KB as fp32.
bool run(const Args& a);

}  // namespace tw::cuda::convnarrow
