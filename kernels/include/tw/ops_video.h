// Ops at the engine's output edge: decoded video → what encoders take.
#pragma once

#include "tw/tensor.h"

namespace tw::ops {

// ---------------------------------------------------------------- to_rgb8
// The VAE's [−1, 1] planar video → interleaved RGB8, TurboDiffusion's mapping:
//   y[f, i, c] = floor(255 · (clamp(x[c, f, i], −1, 1) + 1) / 2 + 0.5)
// x [3, n, H, W] (F32 on CPU; F32 or BF16 on CUDA), contiguous; y [n, H, W, 3] U8, contiguous.
// On CUDA the same fp32 operations in the same order (no fused multiply-add), so both backends give
// the same bytes for the same input values.
struct ToRgb8Params {
  Tensor x, y;
};
void to_rgb8(const ToRgb8Params& p);

}  // namespace tw::ops

#ifdef TW_CUDA
namespace tw::cuda {
void to_rgb8(const ops::ToRgb8Params& p);
}  // namespace tw::cuda
#endif
