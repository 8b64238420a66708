// mul on CUDA: y = a ⊙ b elementwise in fp32, one rounding to y's dtype. a, b, y BF16 or F32 (any mix;
// y may alias a or b). 8 elements per thread with 16-byte accesses when every pointer allows it.
#include <cuda_bf16.h>

#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_extra.h"

namespace tw::cuda {
namespace {

template <class TA, class TB, class TY>
__global__ void mul_kernel(const TA* a, const TB* b, TY* y, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f32<TY>(to_f32(a[i]) * to_f32(b[i]));
}

// bf16 only: 8 per thread.
__global__ void mul_bf16_vec8_kernel(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* y, int64_t n8) {
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < n8; g += int64_t(gridDim.x) * blockDim.x) {
    const uint4 ra = reinterpret_cast<const uint4*>(a)[g], rb = reinterpret_cast<const uint4*>(b)[g];
    const __nv_bfloat162* ha = reinterpret_cast<const __nv_bfloat162*>(&ra);
    const __nv_bfloat162* hb = reinterpret_cast<const __nv_bfloat162*>(&rb);
    uint4 out;
    __nv_bfloat162* ho = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 fa = __bfloat1622float2(ha[j]), fb = __bfloat1622float2(hb[j]);
      ho[j] = __floats2bfloat162_rn(fa.x * fb.x, fa.y * fb.y);
    }
    reinterpret_cast<uint4*>(y)[g] = out;
  }
}

unsigned blocks_for(int64_t n) {
  int64_t b = (n + 255) / 256;
  return unsigned(b > 65536 * 4 ? 65536 * 4 : (b < 1 ? 1 : b));
}

template <class TA, class TB>
void run_y(const ops::MulParams& p, int64_t n) {
  if (p.y.dtype == DType::BF16)
    mul_kernel<TA, TB, __nv_bfloat16><<<blocks_for(n), 256, 0, stream()>>>(static_cast<const TA*>(p.a.data), static_cast<const TB*>(p.b.data),
                                                                          static_cast<__nv_bfloat16*>(p.y.data), n);
  else
    mul_kernel<TA, TB, float><<<blocks_for(n), 256, 0, stream()>>>(static_cast<const TA*>(p.a.data), static_cast<const TB*>(p.b.data),
                                                                  static_cast<float*>(p.y.data), n);
  TW_CUDA_CHECK_LAUNCH(mul_kernel);
}

template <class TA>
void run_b(const ops::MulParams& p, int64_t n) {
  if (p.b.dtype == DType::BF16) run_y<TA, __nv_bfloat16>(p, n);
  else run_y<TA, float>(p, n);
}

}  // namespace

void mul(const ops::MulParams& p) {
  const char* op = "mul";
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&p.a, "a"}, {&p.b, "b"}, {&p.y, "y"}}) {
    check_cuda_tensor(*t, op, name);
    check(t->dtype == DType::BF16 || t->dtype == DType::F32, op, std::string(name) + " must be bfloat16 or float32 on CUDA");
  }
  const int64_t n = p.a.numel();
  if (n == 0) return;
  const bool all_bf16 = p.a.dtype == DType::BF16 && p.b.dtype == DType::BF16 && p.y.dtype == DType::BF16;
  const bool aligned = reinterpret_cast<uintptr_t>(p.a.data) % 16 == 0 && reinterpret_cast<uintptr_t>(p.b.data) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(p.y.data) % 16 == 0;
  if (all_bf16 && aligned && n % 8 == 0) {
    mul_bf16_vec8_kernel<<<blocks_for(n / 8), 256, 0, stream()>>>(static_cast<const __nv_bfloat16*>(p.a.data),
                                                                 static_cast<const __nv_bfloat16*>(p.b.data),
                                                                 static_cast<__nv_bfloat16*>(p.y.data), n / 8);
    TW_CUDA_CHECK_LAUNCH(mul_bf16_vec8_kernel);
    return;
  }
  if (p.a.dtype == DType::BF16) run_b<__nv_bfloat16>(p, n);
  else run_b<float>(p, n);
}

}  // namespace tw::cuda
