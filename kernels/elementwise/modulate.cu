// adaLN modulation on CUDA: y[r,c] = x[r,c]·(1 + scale[c]) + shift[c] in fp32, x/y BF16 or F32,
// scale/shift [D] of any float dtype (F32 in the DiT).
#include "elementwise.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

template <class TI, class TO>
struct ModFn {
  const TI* x;
  TO* y;
  AnyFloatPtr scale, shift;
  __device__ void operator()(int64_t i, int64_t c) const {
    y[i] = from_f32<TO>(fmaf(to_f32(x[i]), 1.f + scale.load(c), shift.load(c)));
  }
  __device__ void vec(int64_t i, int64_t c) const {
    float v[8];
    load8(x + i, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = fmaf(v[e], 1.f + scale.load(c + e), shift.load(c + e));
    store8(y + i, v);
  }
};

template <class TI, class TO>
void run(const ops::ModulateParams& p, int64_t D) {
  const int64_t n = p.x.numel();
  launch_elementwise(n, D, vec8_ok(n, D, {p.x.data, p.y.data}),
                     ModFn<TI, TO>{static_cast<const TI*>(p.x.data), static_cast<TO*>(p.y.data), AnyFloatPtr::of(p.scale),
                                   AnyFloatPtr::of(p.shift)});
}

}  // namespace

void modulate(const ops::ModulateParams& p) {
  const char* op = "modulate";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.y, op, "y");
  check_act_dtype(p.x, op, "x");
  check_act_dtype(p.y, op, "y");
  check(p.x.numel() == p.y.numel() && p.x.ndim >= 1, op, "x and y must have the same shape");
  const int64_t D = p.x.size(-1);
  check_cuda_tensor(p.scale, op, "scale");
  check_cuda_tensor(p.shift, op, "shift");
  check_float_dtype(p.scale, op, "scale");
  check_float_dtype(p.shift, op, "shift");
  check(p.scale.numel() == D && p.shift.numel() == D, op, "scale and shift must have D = x.size(-1) elements");
  using bf = __nv_bfloat16;
  if (p.x.dtype == DType::BF16) { if (p.y.dtype == DType::BF16) run<bf, bf>(p, D); else run<bf, float>(p, D); }
  else { if (p.y.dtype == DType::BF16) run<float, bf>(p, D); else run<float, float>(p, D); }
}

}  // namespace tw::cuda
