// to_rgb8: planar [−1, 1] video → interleaved RGB8 (see ops_video.h for the mapping).
#include "tw/cpu_ref.h"
#include "tw/ops_video.h"

namespace tw::ops {

void to_rgb8(const ToRgb8Params& p) {
  const char* op = "to_rgb8";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check(p.x.ndim == 4 && p.x.size(0) == 3, op, "x must be [3, frames, H, W]; got " + p.x.shape_str());
  check(p.y.ndim == 4 && p.y.size(0) == p.x.size(1) && p.y.size(1) == p.x.size(2) && p.y.size(2) == p.x.size(3) && p.y.size(3) == 3,
        op, "y must be [frames, H, W, 3] = [" + std::to_string(p.x.size(1)) + ", " + std::to_string(p.x.size(2)) + ", " +
                std::to_string(p.x.size(3)) + ", 3]; got " + p.y.shape_str());
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  check_dtype(p.y, DType::U8, op, "y");
  TW_DISPATCH_CUDA(dev, op, to_rgb8, p);
  check_dtype(p.x, DType::F32, op, "x");
  const int64_t n = p.x.size(1), HW = p.x.size(2) * p.x.size(3);
  const float* x = p.x.ptr<float>();
  uint8_t* y = p.y.ptr<uint8_t>();
#pragma omp parallel for schedule(static)
  for (int64_t f = 0; f < n; ++f)
    for (int64_t i = 0; i < HW; ++i)
      for (int64_t c = 0; c < 3; ++c) {
        float v = x[(c * n + f) * HW + i];
        v = v < -1.f ? -1.f : (v > 1.f ? 1.f : v);
        y[(f * HW + i) * 3 + c] = uint8_t(int((v + 1.f) * 0.5f * 255.f + 0.5f));
      }
}

}  // namespace tw::ops
