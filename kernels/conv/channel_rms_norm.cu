// channel_rms_norm on CUDA: y[c, n] = x[c, n] / max(‖x[:, n]‖₂, eps) · √C · gamma[c] (+ bias[c]) over the
// channel dim of a channel-first tensor, optionally followed by SiLU (p.silu: fp32 v/(1+e^−v) before the
// one rounding). x, y BF16 (y may alias x); gamma, bias any float dtype.
// fp32 sum of squares and product (the CPU reference uses double; the difference is far below one
// bf16 rounding), one rounding to bf16. Each thread owns 8 consecutive positions (16-byte accesses,
// coalesced across the warp) and walks the channels twice: sum of squares, then the scaled output.
#include <cuda_bf16.h>

#include <cmath>

#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_conv.h"

namespace tw::cuda {
namespace {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float silu(float v) { return v / (1.f + expf(-v)); }

template <int V, bool kSilu>
__global__ void channel_rms_norm_kernel(const bf16* x, bf16* y, AnyFloatPtr gamma, AnyFloatPtr bias, int64_t C, int64_t N,
                                        float scale, float eps) {
  const int64_t n = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (n >= N) return;
  float ss[V];
#pragma unroll
  for (int j = 0; j < V; ++j) ss[j] = 0.f;
  for (int64_t c = 0; c < C; ++c) {
    const bf16* p = x + c * N + n;
    if constexpr (V == 8) {
      const uint4 raw = *reinterpret_cast<const uint4*>(p);
      const bf16* h = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
      for (int j = 0; j < 8; ++j) { const float v = __bfloat162float(h[j]); ss[j] = fmaf(v, v, ss[j]); }
    } else {
      const float v = __bfloat162float(p[0]);
      ss[0] = fmaf(v, v, ss[0]);
    }
  }
  float inv[V];
#pragma unroll
  for (int j = 0; j < V; ++j) inv[j] = scale / fmaxf(sqrtf(ss[j]), eps);
  for (int64_t c = 0; c < C; ++c) {
    const float g = gamma.load(c, 1.f), b = bias.load(c, 0.f);
    const bf16* p = x + c * N + n;
    bf16* q = y + c * N + n;
    if constexpr (V == 8) {
      const uint4 raw = *reinterpret_cast<const uint4*>(p);
      const bf16* h = reinterpret_cast<const bf16*>(&raw);
      uint4 out;
      __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float v0 = __bfloat162float(h[2 * j]) * inv[2 * j] * g + b, v1 = __bfloat162float(h[2 * j + 1]) * inv[2 * j + 1] * g + b;
        if constexpr (kSilu) v0 = silu(v0), v1 = silu(v1);
        o[j] = __floats2bfloat162_rn(v0, v1);
      }
      *reinterpret_cast<uint4*>(q) = out;
    } else {
      float v = __bfloat162float(p[0]) * inv[0] * g + b;
      if constexpr (kSilu) v = silu(v);
      q[0] = __float2bfloat16_rn(v);
    }
  }
}

}  // namespace

void channel_rms_norm(const ops::ChannelRmsNormParams& p) {
  const char* op = "channel_rms_norm";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.y, op, "y");
  check_cuda_tensor(p.gamma, op, "gamma");
  check_float_dtype(p.gamma, op, "gamma");
  if (!p.bias.empty()) { check_cuda_tensor(p.bias, op, "bias"); check_float_dtype(p.bias, op, "bias"); }
  check(p.x.dtype == DType::BF16 && p.y.dtype == DType::BF16, op, "on CUDA x and y must be bfloat16");
  const int64_t C = p.x.size(0), N = C > 0 ? p.x.numel() / C : 0;
  if (N == 0) return;
  const float scale = float(std::sqrt(double(C)));
  const auto* x = static_cast<const bf16*>(p.x.data);
  auto* y = static_cast<bf16*>(p.y.data);
  const bool vec = N % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
  const int threads = 128;
  const AnyFloatPtr g = AnyFloatPtr::of(p.gamma), b = AnyFloatPtr::of(p.bias);
  const unsigned blocks8 = unsigned((N / 8 + threads - 1) / threads), blocks1 = unsigned((N + threads - 1) / threads);
  if (vec && p.silu) channel_rms_norm_kernel<8, true><<<blocks8, threads, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
  else if (vec) channel_rms_norm_kernel<8, false><<<blocks8, threads, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
  else if (p.silu) channel_rms_norm_kernel<1, true><<<blocks1, threads, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
  else channel_rms_norm_kernel<1, false><<<blocks1, threads, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
  TW_CUDA_CHECK_LAUNCH(channel_rms_norm_kernel);
}

}  // namespace tw::cuda
