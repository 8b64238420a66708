// Internal to kernels/conv: the warpgroup-MMA (sm_90a) implicit-GEMM conv for the channels-last
// path of conv3d.cu. Included by CUDA sources only.
#pragma once

#include <cuda_bf16.h>

#include "tw/cuda/dtype.cuh"

namespace tw::cuda::convwg {

// y[co, n] = Σ_{tap, ci} wr[co, tap, ci] · xpc[pix(n) + tapoff(tap), ci] + b[co]
struct Args {
  const __nv_bfloat16* xpc;  // padded input, channels last [Tp, Hp, Wp, Cin]
  const __nv_bfloat16* wr;   // weights [Cout, taps, Cin]
  AnyFloatPtr b;             // [Cout] or null
  __nv_bfloat16* y;          // [Cout, N] (channel-first output)
  const __nv_bfloat16* res;  // [Cout, N] added before the rounding, or null
  int Cout, Cin, K, N;       // K = taps · Cin
  int HWo, Wo;               // output grid
  int HpWp, Wp, kh, kw;      // padded input strides (positions), kernel extents
  int st, sh, sw;            // strides
};

// Runs the conv and returns true, or returns false (nothing launched) when the kernel does not
// apply: not an sm_90 device / no sm_90a code in this build, TW_CONV_KERNEL=mma, or a shape it
// does not cover (needs Cin % 32 == 0 and Cout % 96 == 0).
bool run(const Args& a);

// Whether run() can take any shape at all on this device and build (for benches and logs).
bool available();

}  // namespace tw::cuda::convwg
