// layer_norm over the last dim: torch.nn.functional.layer_norm(x, (D,), w, b, eps) in fp32.
// CPU reference: mean and (biased) variance in double with two passes, y = (x − mean)·rstd·w + b
// evaluated in double and rounded once to fp32. w and b are optional (no affine when empty).
#include <cmath>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {

void layer_norm(const LayerNormParams& p) {
  const char* op = "layer_norm";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"w", &p.w}, {"b", &p.b}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 2, op, "x must be 2-D [rows, D], got " + p.x.shape_str());
  const int64_t R = p.x.size(0), D = p.x.size(1);
  check_shape(p.y, {R, D}, op, "y");
  if (!p.w.empty()) check_shape(p.w, {D}, op, "w");
  if (!p.b.empty()) check_shape(p.b, {D}, op, "b");
  check(p.eps >= 0.f, op, "eps must be >= 0");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, layer_norm, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  if (!p.w.empty()) check_float_weight(p.w, op, "w");
  if (!p.b.empty()) check_float_weight(p.b, op, "b");

  std::vector<float> w(static_cast<size_t>(D), 1.f), b(static_cast<size_t>(D), 0.f);
  if (!p.w.empty()) ref::load_f32(p.w, 0, D, w.data());
  if (!p.b.empty()) ref::load_f32(p.b, 0, D, b.data());
  const float* x = p.x.ptr<float>();
  float* y = p.y.ptr<float>();  // may alias x: each row is read fully before it is written
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * D;
    double sum = 0;
    for (int64_t c = 0; c < D; ++c) sum += xr[c];
    const double mean = sum / double(D);
    double sq = 0;
    for (int64_t c = 0; c < D; ++c) { double d = xr[c] - mean; sq += d * d; }
    const double rstd = 1.0 / std::sqrt(sq / double(D) + double(p.eps));
    float* yr = y + r * D;
    for (int64_t c = 0; c < D; ++c) yr[c] = float((xr[c] - mean) * rstd * w[size_t(c)] + b[size_t(c)]);
  }
}

}  // namespace tw::ops
