// rms_norm over the last dim: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w, in fp32
// (TD FastRMSNorm / WanRMSNorm on fp32 inputs). CPU reference: mean of squares in double, the
// product evaluated in double and rounded once to fp32.
#include <cmath>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {

void rms_norm(const RmsNormParams& p) {
  const char* op = "rms_norm";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"w", &p.w}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.w, op, "w");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 2, op, "x must be 2-D [rows, D], got " + p.x.shape_str());
  const int64_t R = p.x.size(0), D = p.x.size(1);
  check_shape(p.y, {R, D}, op, "y");
  check_shape(p.w, {D}, op, "w");
  check(p.eps >= 0.f, op, "eps must be >= 0");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, rms_norm, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  check_float_weight(p.w, op, "w");

  std::vector<float> w(static_cast<size_t>(D));
  ref::load_f32(p.w, 0, D, w.data());
  const float* x = p.x.ptr<float>();
  float* y = p.y.ptr<float>();  // may alias x
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * D;
    double sq = 0;
    for (int64_t c = 0; c < D; ++c) sq += double(xr[c]) * double(xr[c]);
    const double rrms = 1.0 / std::sqrt(sq / double(D) + double(p.eps));
    float* yr = y + r * D;
    for (int64_t c = 0; c < D; ++c) yr[c] = float(double(xr[c]) * rrms * double(w[size_t(c)]));
  }
}

}  // namespace tw::ops
