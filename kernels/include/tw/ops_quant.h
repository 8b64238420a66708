// Weight-only int8 with one scale per output channel (row), for the umT5 text encoder's linears:
// the weights are stored as int8 + fp32 row scales and expanded to bf16 right before each GEMM, the
// activations never get quantized (T5's FFN activations carry outliers that a per-block activation
// scale would crush). In the style of ops.h: one params struct and one entry point per op, CPU
// reference always built, CUDA implementation in TW_CUDA builds.
#pragma once

#include "tw/tensor.h"

namespace tw::ops {

// ---------------------------------------------------------------- quantize_int8_rows
// Symmetric per-row int8: amax = max_k |x[n,k]| (fp32), scale[n] = amax / 127,
// q[n,k] = sat_s8(rne(x[n,k] · (127 / amax))) with the multiplier computed as that fp32 quotient.
// A row of zeros gets scale 0 and q 0 (it dequantizes to exact zeros). |q·scale − x| ≤ amax/254.
// x [N,K] F32|BF16; q [N,K] I8; scale [N] F32 (all contiguous).
struct QuantizeInt8RowsParams {
  Tensor x, q, scale;
};
void quantize_int8_rows(const QuantizeInt8RowsParams& p);

// ---------------------------------------------------------------- dequantize_int8_rows
// y[n,k] = float(q[n,k]) · scale[n] in fp32, one rounding to y's dtype (round to nearest even).
// q [N,K] I8; scale [N] F32; y [N,K] F32|BF16 (contiguous).
struct DequantizeInt8RowsParams {
  Tensor q, scale, y;
};
void dequantize_int8_rows(const DequantizeInt8RowsParams& p);

}  // namespace tw::ops

#ifdef TW_CUDA
namespace tw::cuda {
void quantize_int8_rows(const ops::QuantizeInt8RowsParams& p);
void dequantize_int8_rows(const ops::DequantizeInt8RowsParams& p);
}  // namespace tw::cuda
#endif
