// transpose2d: y[c, r] = x[r, c]   (torch `x.t().contiguous()`; exact copy).
#include <algorithm>

#include "tw/cpu_ref.h"
#include "tw/ops_conv.h"

namespace tw::ops {

void transpose2d(const Transpose2dParams& p) {
  const char* op = "transpose2d";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 2, op, "x must be 2-D [R, C], got " + p.x.shape_str());
  const int64_t R = p.x.size(0), C = p.x.size(1);
  check_shape(p.y, {C, R}, op, "y");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, transpose2d, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  check(p.x.data != p.y.data, op, "y must not alias x");
  const float* x = p.x.ptr<float>();
  float* y = p.y.ptr<float>();
  constexpr int64_t kTile = 32;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t r0 = 0; r0 < R; r0 += kTile)
    for (int64_t c0 = 0; c0 < C; c0 += kTile)
      for (int64_t r = r0; r < std::min(R, r0 + kTile); ++r)
        for (int64_t c = c0; c < std::min(C, c0 + kTile); ++c) y[c * R + r] = x[r * C + c];
}

}  // namespace tw::ops
