// gated_add (gated residual): x += y * gate, gate broadcast over rows; x += y when gate is empty.
// Same fp32 operation order as PyTorch's `x + y * gate`. x [rows, D], y [rows, D], gate [D].
#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {

void gated_add(const GatedAddParams& p) {
  const char* op = "gated_add";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"y", &p.y}, {"gate", &p.gate}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 2, op, "x must be 2-D [rows, D], got " + p.x.shape_str());
  const int64_t R = p.x.size(0), D = p.x.size(1);
  check_shape(p.y, {R, D}, op, "y");
  if (!p.gate.empty()) check_shape(p.gate, {D}, op, "gate");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  if (!p.gate.empty()) check_contiguous(p.gate, op, "gate");
  TW_DISPATCH_CUDA(dev, op, gated_add, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  if (!p.gate.empty()) check_dtype(p.gate, DType::F32, op, "gate");
  float* x = p.x.ptr<float>();
  const float* y = p.y.ptr<float>();
  const float* gate = p.gate.empty() ? nullptr : p.gate.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < D; ++c) {
      const float v = gate ? y[r * D + c] * gate[c] : y[r * D + c];
      x[r * D + c] = x[r * D + c] + v;
    }
}

}  // namespace tw::ops
