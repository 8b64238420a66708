// channel_rms_norm on CUDA: y[c, n] = x[c, n] / max(‖x[:, n]‖₂, eps) · √C · gamma[c] (+ bias[c]) over the
// channel dim of a channel-first tensor, optionally followed by SiLU (p.silu: fp32 v/(1+e^−v) before the
// one rounding). x, y BF16 (y may alias x); gamma, bias any float dtype.
// fp32 sum of squares and product (the CPU reference uses double; the difference is far below one
// bf16 rounding), one rounding to bf16. Two passes over the channels (sum of squares, then the scaled
// output); the work split is described at each kernel.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>

#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_conv.h"

namespace tw::cuda {
namespace {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float silu(float v) { return v / (1.f + expf(-v)); }

// Vector path (N % 8 == 0, 16-byte aligned): a CTA owns 64 positions (8 vectors of 8) and splits the
// channels over 32 groups, so even the VAE's low-resolution 384-channel maps (a few thousand positions)
// fill the GPU: thread (pv = tid % 8, g = tid / 8) sums channels g, g+32, … of vector pv, the 32 partial
// sums meet in shared memory, then every thread scales its own channels. A warp reads 4 channels ×
// 128 contiguous bytes per step. y may alias x: each element is read and written by one thread only.
template <bool kSilu>
__global__ void __launch_bounds__(256) channel_rms_norm_vec_kernel(const bf16* x, bf16* y, AnyFloatPtr gamma, AnyFloatPtr bias,
                                                                    int64_t C, int64_t N, float scale, float eps) {
  __shared__ float red[32][8][9];  // [group][vector][position] (+1 pad: conflict-free)
  __shared__ float sinv[64];
  const int tid = threadIdx.x, pv = tid & 7, g = tid >> 3;
  const int64_t n = (int64_t(blockIdx.x) * 8 + pv) * 8;
  const bool ok = n < N;
  float ss[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) ss[j] = 0.f;
  if (ok) {
    for (int64_t c = g; c < C; c += 32) {
      const uint4 raw = *reinterpret_cast<const uint4*>(x + c * N + n);
      const bf16* h = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
      for (int j = 0; j < 8; ++j) { const float v = __bfloat162float(h[j]); ss[j] = fmaf(v, v, ss[j]); }
    }
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) red[g][pv][j] = ss[j];
  __syncthreads();
  if (tid < 64) {
    float t = 0.f;
    for (int k = 0; k < 32; ++k) t += red[k][tid >> 3][tid & 7];
    sinv[tid] = scale / fmaxf(sqrtf(t), eps);
  }
  __syncthreads();
  if (!ok) return;
  float inv[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) inv[j] = sinv[pv * 8 + j];
  for (int64_t c = g; c < C; c += 32) {
    const float gm = gamma.load(c, 1.f), b = bias.load(c, 0.f);
    const uint4 raw = *reinterpret_cast<const uint4*>(x + c * N + n);
    const bf16* h = reinterpret_cast<const bf16*>(&raw);
    uint4 out;
    __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float v0 = __bfloat162float(h[2 * j]) * inv[2 * j] * gm + b, v1 = __bfloat162float(h[2 * j + 1]) * inv[2 * j + 1] * gm + b;
      if constexpr (kSilu) v0 = silu(v0), v1 = silu(v1);
      o[j] = __floats2bfloat162_rn(v0, v1);
    }
    *reinterpret_cast<uint4*>(y + c * N + n) = out;
  }
}

// Padded channels-last output (p.y_padded_cl; C % 32 == 0, N % 8 == 0): the vector kernel's work split, but
// each 32-channel block of the CTA's 64 positions is staged in shared memory and written as one 64-byte
// run per position (4 threads × 16 bytes) at its place in y [Tp, Hp, Wp, C]. The conv reading y then needs
// no pad/transpose pass of its own.
template <bool kSilu>
__global__ void __launch_bounds__(256) channel_rms_norm_cl_kernel(const bf16* __restrict__ x, bf16* __restrict__ y, AnyFloatPtr gamma,
                                                                   AnyFloatPtr bias, int C, int N, int HW, int W, int Hp, int Wp, int t0,
                                                                   int top, int left, float scale, float eps) {
  __shared__ float red[32][8][9];
  __shared__ float sinv[64];
  __shared__ __align__(16) bf16 tile[64][40];  // [position][channel of the block] (80-byte rows: 16-byte aligned)
  const int tid = threadIdx.x, pv = tid & 7, g = tid >> 3;
  const int64_t n = (int64_t(blockIdx.x) * 8 + pv) * 8;
  const bool ok = n < N;
  float ss[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) ss[j] = 0.f;
  if (ok) {
    for (int c = g; c < C; c += 32) {
      const uint4 raw = *reinterpret_cast<const uint4*>(x + int64_t(c) * N + n);
      const bf16* h = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
      for (int j = 0; j < 8; ++j) { const float v = __bfloat162float(h[j]); ss[j] = fmaf(v, v, ss[j]); }
    }
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) red[g][pv][j] = ss[j];
  __syncthreads();
  if (tid < 64) {
    float t = 0.f;
    for (int k = 0; k < 32; ++k) t += red[k][tid >> 3][tid & 7];
    sinv[tid] = scale / fmaxf(sqrtf(t), eps);
  }
  __syncthreads();
  float inv[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) inv[j] = sinv[pv * 8 + j];
  // This thread's store: position sp of the CTA, channels 8·sq … 8·sq + 7 of each block.
  const int sp = tid >> 2, sq = tid & 3;
  const int64_t sn = int64_t(blockIdx.x) * 64 + sp;
  bf16* dst = nullptr;
  if (sn < N) {
    const int t = int(sn / HW), r = int(sn - int64_t(t) * HW), h = r / W, w = r - h * W;
    dst = y + ((int64_t(t0 + t) * Hp + top + h) * Wp + left + w) * C + sq * 8;
  }
  for (int c0 = 0; c0 < C; c0 += 32) {
    if (ok) {
      const int c = c0 + g;
      const float gm = gamma.load(c, 1.f), b = bias.load(c, 0.f);
      const uint4 raw = *reinterpret_cast<const uint4*>(x + int64_t(c) * N + n);
      const bf16* h = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        float v = __bfloat162float(h[j]) * inv[j] * gm + b;
        if constexpr (kSilu) v = silu(v);
        tile[pv * 8 + j][g] = __float2bfloat16_rn(v);
      }
    }
    __syncthreads();
    if (dst) *reinterpret_cast<uint4*>(dst + c0) = *reinterpret_cast<const uint4*>(&tile[sp][sq * 8]);
    __syncthreads();
  }
}

// Zeros the spatial border (rows outside [top, top + H), columns outside [left, left + W)) of frames
// [t0, t0 + T) of y [Tp, Hp, Wp, C], 16 bytes per thread step (C % 8 == 0).
__global__ void zero_border_cl_kernel(bf16* __restrict__ y, int C, int T, int t0, int H, int W, int Hp, int Wp, int top, int left) {
  const int bottom = Hp - H - top, lr = Wp - W;
  const int per_frame = (top + bottom) * Wp + H * lr, chunks = C / 8;
  const int64_t total = int64_t(T) * per_frame * chunks;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int ch = int(i % chunks);
    const int64_t r = i / chunks;
    const int b = int(r % per_frame), t = int(r / per_frame);
    int hp, wp;
    if (b < top * Wp) {
      hp = b / Wp, wp = b % Wp;
    } else if (b < (top + bottom) * Wp) {
      const int bb = b - top * Wp;
      hp = top + H + bb / Wp, wp = bb % Wp;
    } else {
      const int bb = b - (top + bottom) * Wp, j = bb % lr;
      hp = top + bb / lr, wp = j < left ? j : W + j;  // right columns: left + W + (j − left)
    }
    *reinterpret_cast<uint4*>(y + ((int64_t(t0 + t) * Hp + hp) * Wp + wp) * C + ch * 8) = make_uint4(0u, 0u, 0u, 0u);
  }
}

// Scalar path (any N, any alignment): one thread per position walks all channels twice.
template <bool kSilu>
__global__ void channel_rms_norm_kernel(const bf16* x, bf16* y, AnyFloatPtr gamma, AnyFloatPtr bias, int64_t C, int64_t N,
                                        float scale, float eps) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  float ss = 0.f;
  for (int64_t c = 0; c < C; ++c) { const float v = __bfloat162float(x[c * N + n]); ss = fmaf(v, v, ss); }
  const float inv = scale / fmaxf(sqrtf(ss), eps);
  for (int64_t c = 0; c < C; ++c) {
    float v = __bfloat162float(x[c * N + n]) * inv * gamma.load(c, 1.f) + bias.load(c, 0.f);
    if constexpr (kSilu) v = silu(v);
    y[c * N + n] = __float2bfloat16_rn(v);
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
  const AnyFloatPtr g = AnyFloatPtr::of(p.gamma), b = AnyFloatPtr::of(p.bias);
  if (p.y_padded_cl) {
    check(C % 32 == 0 && vec && N < (int64_t(1) << 31), op, "y_padded_cl needs C % 32 == 0, T·H·W % 8 == 0 and 16-byte aligned x, y on CUDA");
    const int64_t T = p.x.size(1), H = p.x.size(2), W = p.x.size(3), Hp = p.y.size(1), Wp = p.y.size(2);
    const int64_t border = T * ((Hp - H) * Wp + H * (Wp - W)) * (C / 8);
    if (border > 0) {
      zero_border_cl_kernel<<<unsigned(std::min<int64_t>((border + 255) / 256, 4096)), 256, 0, stream()>>>(
          y, int(C), int(T), int(p.y_t0), int(H), int(W), int(Hp), int(Wp), int(p.y_top), int(p.y_left));
      TW_CUDA_CHECK_LAUNCH(zero_border_cl_kernel);
    }
    const unsigned blocks = unsigned((N + 63) / 64);
    if (p.silu)
      channel_rms_norm_cl_kernel<true><<<blocks, 256, 0, stream()>>>(x, y, g, b, int(C), int(N), int(H * W), int(W), int(Hp), int(Wp),
                                                                     int(p.y_t0), int(p.y_top), int(p.y_left), scale, p.eps);
    else
      channel_rms_norm_cl_kernel<false><<<blocks, 256, 0, stream()>>>(x, y, g, b, int(C), int(N), int(H * W), int(W), int(Hp), int(Wp),
                                                                      int(p.y_t0), int(p.y_top), int(p.y_left), scale, p.eps);
    TW_CUDA_CHECK_LAUNCH(channel_rms_norm_cl_kernel);
    return;
  }
  if (vec) {
    const unsigned blocks = unsigned((N + 63) / 64);
    if (p.silu) channel_rms_norm_vec_kernel<true><<<blocks, 256, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
    else channel_rms_norm_vec_kernel<false><<<blocks, 256, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
  } else {
    const unsigned blocks = unsigned((N + 127) / 128);
    if (p.silu) channel_rms_norm_kernel<true><<<blocks, 128, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
    else channel_rms_norm_kernel<false><<<blocks, 128, 0, stream()>>>(x, y, g, b, C, N, scale, p.eps);
  }
  TW_CUDA_CHECK_LAUNCH(channel_rms_norm_kernel);
}

}  // namespace tw::cuda
