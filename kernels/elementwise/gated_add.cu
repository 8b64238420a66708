// Gated residual on CUDA: x[r,c] += y[r,c]·gate[c] (plain add without gate), fp32 math and one
// rounding to x's dtype. x BF16 or F32 (the DiT's bf16 residual stream), y BF16 or F32, gate any float.
#include "elementwise.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

template <class TX, class TY>
struct GatedAddFn {
  TX* x;
  const TY* y;
  AnyFloatPtr gate;
  __device__ void operator()(int64_t i, int64_t c) const {
    x[i] = from_f32<TX>(fmaf(to_f32(y[i]), gate.load(c, 1.f), to_f32(x[i])));
  }
  __device__ void vec(int64_t i, int64_t c) const {
    float a[8], b[8];
    load8(x + i, a);
    load8(y + i, b);
#pragma unroll
    for (int e = 0; e < 8; ++e) a[e] = fmaf(b[e], gate.load(c + e, 1.f), a[e]);
    store8(x + i, a);
  }
};

template <class TX, class TY>
void run(const ops::GatedAddParams& p, int64_t D) {
  const int64_t n = p.x.numel();
  launch_elementwise(n, D, vec8_ok(n, D, {p.x.data, p.y.data}),
                     GatedAddFn<TX, TY>{static_cast<TX*>(p.x.data), static_cast<const TY*>(p.y.data), AnyFloatPtr::of(p.gate)});
}

}  // namespace

void gated_add(const ops::GatedAddParams& p) {
  const char* op = "gated_add";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.y, op, "y");
  check_act_dtype(p.x, op, "x");
  check_act_dtype(p.y, op, "y");
  check(p.x.numel() == p.y.numel() && p.x.ndim >= 1, op, "x and y must have the same shape");
  const int64_t D = p.x.size(-1);
  if (!p.gate.empty()) {
    check_cuda_tensor(p.gate, op, "gate");
    check_float_dtype(p.gate, op, "gate");
    check(p.gate.numel() == D, op, "gate must have D = x.size(-1) elements");
  }
  using bf = __nv_bfloat16;
  if (p.x.dtype == DType::BF16) { if (p.y.dtype == DType::BF16) run<bf, bf>(p, D); else run<bf, float>(p, D); }
  else { if (p.y.dtype == DType::BF16) run<float, bf>(p, D); else run<float, float>(p, D); }
}

}  // namespace tw::cuda
