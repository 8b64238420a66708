// activation, elementwise (in place allowed):
//   GeluTanh: torch.nn.functional.gelu(x, approximate="tanh") = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
//   Silu:     torch.nn.functional.silu(x) = x / (1 + exp(−x))
// CPU reference: evaluated in double, rounded once to fp32.
#include <cmath>

#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {

void activation(const ActivationParams& p) {
  const char* op = "activation";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == p.y.ndim && p.x.shape_vec() == p.y.shape_vec(), op,
        "y has shape " + p.y.shape_str() + ", expected the shape of x " + p.x.shape_str());
  check(p.act == Activation::GeluTanh || p.act == Activation::Silu, op, "unknown activation");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, activation, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  const int64_t n = p.x.numel();
  const float* x = p.x.ptr<float>();
  float* y = p.y.ptr<float>();
  if (p.act == Activation::GeluTanh) {
    const double k = std::sqrt(2.0 / M_PI);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      y[i] = float(0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v))));
    }
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      y[i] = float(v / (1.0 + std::exp(-v)));
    }
  }
}

}  // namespace tw::ops
