// mul: y = a ⊙ b elementwise (torch `a * b` in fp32; one rounding, exact as torch's).
#include "tw/cpu_ref.h"
#include "tw/ops_extra.h"

namespace tw::ops {

void mul(const MulParams& p) {
  const char* op = "mul";
  using namespace detail;
  Device dev = op_device(op, {{"a", &p.a}, {"b", &p.b}, {"y", &p.y}});
  check_not_empty(p.a, op, "a");
  check_not_empty(p.b, op, "b");
  check_not_empty(p.y, op, "y");
  check(p.a.shape_vec() == p.b.shape_vec() && p.a.shape_vec() == p.y.shape_vec(), op,
        "a " + p.a.shape_str() + ", b " + p.b.shape_str() + " and y " + p.y.shape_str() + " must have one shape");
  for (auto a : {Arg{"a", &p.a}, Arg{"b", &p.b}, Arg{"y", &p.y}}) check_contiguous(*a.t, op, a.name);
  TW_DISPATCH_CUDA(dev, op, mul, p);
  for (auto a : {Arg{"a", &p.a}, Arg{"b", &p.b}, Arg{"y", &p.y}}) check_dtype(*a.t, DType::F32, op, a.name);
  const int64_t n = p.a.numel();
  const float* a = p.a.ptr<float>();
  const float* b = p.b.ptr<float>();
  float* y = p.y.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

}  // namespace tw::ops
