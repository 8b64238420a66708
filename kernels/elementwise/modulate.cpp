// modulate (adaLN): y = x * (1 + scale) + shift, broadcast over rows — the PyTorch fp32 expression
// evaluated in the same order with fp32 roundings (1 + scale, then ·x, then + shift), so the
// result is bit-identical to PyTorch on hardware without FMA contraction. In place allowed.
#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {

void modulate(const ModulateParams& p) {
  const char* op = "modulate";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"scale", &p.scale}, {"shift", &p.shift}, {"y", &p.y}});
  for (auto a : {Arg{"x", &p.x}, Arg{"scale", &p.scale}, Arg{"shift", &p.shift}, Arg{"y", &p.y}})
    check_not_empty(*a.t, op, a.name);
  check(p.x.ndim == 2, op, "x must be 2-D [rows, D], got " + p.x.shape_str());
  const int64_t R = p.x.size(0), D = p.x.size(1);
  check_shape(p.y, {R, D}, op, "y");
  check_shape(p.scale, {D}, op, "scale");
  check_shape(p.shift, {D}, op, "shift");
  for (auto a : {Arg{"x", &p.x}, Arg{"scale", &p.scale}, Arg{"shift", &p.shift}, Arg{"y", &p.y}})
    check_contiguous(*a.t, op, a.name);
  TW_DISPATCH_CUDA(dev, op, modulate, p);
  for (auto a : {Arg{"x", &p.x}, Arg{"scale", &p.scale}, Arg{"shift", &p.shift}, Arg{"y", &p.y}})
    check_dtype(*a.t, DType::F32, op, a.name);
  const float* x = p.x.ptr<float>();
  const float* scale = p.scale.ptr<float>();
  const float* shift = p.shift.ptr<float>();
  float* y = p.y.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < D; ++c) {
      const float s1 = 1.f + scale[c];
      const float t = x[r * D + c] * s1;
      y[r * D + c] = t + shift[c];
    }
}

}  // namespace tw::ops
