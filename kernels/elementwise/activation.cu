// GELU(tanh) and SiLU on CUDA, fp32 math, x/y BF16 or F32 (in place allowed).
#include "elementwise.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

template <class TI, class TO>
struct ActFn {
  const TI* x;
  TO* y;
  bool gelu;
  __device__ float act(float v) const {
    if (gelu) return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    return v / (1.f + expf(-v));
  }
  __device__ void operator()(int64_t i, int64_t) const { y[i] = from_f32<TO>(act(to_f32(x[i]))); }
  __device__ void vec(int64_t i, int64_t) const {
    float v[8];
    load8(x + i, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = act(v[e]);
    store8(y + i, v);
  }
};

template <class TI, class TO>
void run(const ops::ActivationParams& p) {
  const int64_t n = p.x.numel();
  launch_elementwise(n, 8, vec8_ok(n, 8, {p.x.data, p.y.data}),
                     ActFn<TI, TO>{static_cast<const TI*>(p.x.data), static_cast<TO*>(p.y.data), p.act == ops::Activation::GeluTanh});
}

}  // namespace

void activation(const ops::ActivationParams& p) {
  const char* op = "activation";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.y, op, "y");
  check_act_dtype(p.x, op, "x");
  check_act_dtype(p.y, op, "y");
  check(p.x.numel() == p.y.numel(), op, "x and y must have the same number of elements");
  using bf = __nv_bfloat16;
  if (p.x.dtype == DType::BF16) { if (p.y.dtype == DType::BF16) run<bf, bf>(p); else run<bf, float>(p); }
  else { if (p.y.dtype == DType::BF16) run<float, bf>(p); else run<float, float>(p); }
}

}  // namespace tw::cuda
