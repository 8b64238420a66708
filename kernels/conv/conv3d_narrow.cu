// Direct conv for very few output channels (Cout ≤ 4: the VAE decoder's 96→3 RGB head) on the padded
// channels-last input of conv3d.cu's channels-last path.
//
// An implicit GEMM with Cout = 3 wastes most of a tensor-core tile and, worse, re-reads every input
// position once per tap (27× for 3×3×3) through L2 — the head took 4% of the decode on the mma.sync
// kernel. Here a CTA owns one output frame × 16 rows × 32 columns, stages the input halo of one input
// frame and 32 channels in shared memory ((16 + kh − 1) × (32 + kw − 1) positions), and every thread
// accumulates two positions' (rows r, r + 8) ≤ 4 outputs over the kh·kw taps in fp32 FMAs: each input element is
// read from L2 about once per output frame. Weights live in shared memory as fp32 [tap][ci][4].
// Halo rows are 80 bytes (64 of data + 16 of padding) so the 16-byte reads of a warp's 32
// consecutive positions hit distinct bank groups.
//
// Same math as the CPU reference up to summation order: bf16 inputs, exact fp32 products (bf16 ×
// fp32-held bf16), fp32 sums, one rounding to bf16.
#include "conv3d_narrow.h"

#include <cuda_runtime.h>

#include <cstdint>

#include "tw/cuda/device.h"

namespace tw::cuda::convnarrow {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kTW = 32, kRowsPerThread = 2, kTH = 8 * kRowsPerThread, kThreads = kTW * 8;
constexpr int kRowBytes = 80;  // 32 channels × 2 B + 16 B pad

__global__ void __launch_bounds__(kThreads) conv_narrow_kernel(const Args a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int taps = a.kt * a.kh * a.kw;
  float4* ws = reinterpret_cast<float4*>(smem);                         // [taps][Cin] × 4 outputs
  unsigned char* halo = smem + size_t(taps) * a.Cin * sizeof(float4);  // [HH][HW] rows of 80 B
  const int HW = kTW + a.kw - 1, HH = kTH + a.kh - 1;
  const int tid = threadIdx.x, tx = tid % kTW, ty = tid / kTW;  // ty < 8; also row ty + 8
  const int wo0 = blockIdx.x * kTW, ho0 = blockIdx.y * kTH, to = blockIdx.z;

  for (int i = tid; i < taps * a.Cin; i += kThreads) {
    const int tap = i / a.Cin, ci = i - tap * a.Cin;
    float v[4];
#pragma unroll
    for (int co = 0; co < 4; ++co) v[co] = co < a.Cout ? __bfloat162float(a.wr[size_t(co) * taps * a.Cin + i]) : 0.f;
    ws[size_t(tap) * a.Cin + ci] = make_float4(v[0], v[1], v[2], v[3]);
  }
  float acc[kRowsPerThread][4];  // rows ty and ty + 8: each weight load feeds 8 FMAs
#pragma unroll
  for (int co = 0; co < 4; ++co) {
    const float b = co < a.Cout ? a.b.load(co, 0.f) : 0.f;
#pragma unroll
    for (int rr = 0; rr < kRowsPerThread; ++rr) acc[rr][co] = b;
  }

  for (int dt = 0; dt < a.kt; ++dt) {
    const bf16* frame = a.xpc + size_t(to + dt) * a.Hp * a.Wp * a.Cin;
    for (int c0 = 0; c0 < a.Cin; c0 += 32) {
      __syncthreads();  // the previous slice's readers are done
      for (int i = tid; i < HH * HW * 4; i += kThreads) {
        const int pos = i >> 2, q = i & 3, r = pos / HW, c = pos - r * HW;
        const int hp = ho0 + r, wp = wo0 + c;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (hp < a.Hp && wp < a.Wp) v = *reinterpret_cast<const uint4*>(frame + (size_t(hp) * a.Wp + wp) * a.Cin + c0 + q * 8);
        *reinterpret_cast<uint4*>(halo + pos * kRowBytes + q * 16) = v;
      }
      __syncthreads();
      for (int dh = 0; dh < a.kh; ++dh) {
        for (int dw = 0; dw < a.kw; ++dw) {
          const unsigned char* src = halo + ((ty + dh) * HW + tx + dw) * kRowBytes;
          const float4* wt = ws + size_t((dt * a.kh + dh) * a.kw + dw) * a.Cin + c0;
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            uint4 raw[kRowsPerThread];
#pragma unroll
            for (int rr = 0; rr < kRowsPerThread; ++rr) raw[rr] = *reinterpret_cast<const uint4*>(src + rr * 8 * HW * kRowBytes + q * 16);
#pragma unroll
            for (int e = 0; e < 8; ++e) {
              const float4 w = wt[q * 8 + e];
#pragma unroll
              for (int rr = 0; rr < kRowsPerThread; ++rr) {
                const float x = __bfloat162float(reinterpret_cast<const bf16*>(&raw[rr])[e]);
                acc[rr][0] = fmaf(x, w.x, acc[rr][0]);
                acc[rr][1] = fmaf(x, w.y, acc[rr][1]);
                acc[rr][2] = fmaf(x, w.z, acc[rr][2]);
                acc[rr][3] = fmaf(x, w.w, acc[rr][3]);
              }
            }
          }
        }
      }
    }
  }
  const int wo = wo0 + tx;
  const size_t N = size_t(a.To) * a.Ho * a.Wo;
#pragma unroll
  for (int rr = 0; rr < kRowsPerThread; ++rr) {
    const int ho = ho0 + ty + 8 * rr;
    if (ho >= a.Ho || wo >= a.Wo) continue;
    const size_t n = (size_t(to) * a.Ho + ho) * a.Wo + wo;
#pragma unroll
    for (int co = 0; co < 4; ++co)
      if (co < a.Cout)
        a.y[size_t(co) * N + n] = __float2bfloat16_rn(acc[rr][co] + (a.res ? __bfloat162float(a.res[size_t(co) * N + n]) : 0.f));
  }
}

size_t smem_bytes(const Args& a) {
  return size_t(a.kt * a.kh * a.kw) * a.Cin * sizeof(float4) + size_t(kTH + a.kh - 1) * (kTW + a.kw - 1) * kRowBytes;
}

}  // namespace

bool run(const Args& a) {
  if (a.Cout < 1 || a.Cout > 4 || a.Cin % 32 != 0 || a.To > 65535 || (a.Ho + kTH - 1) / kTH > 65535) return false;
  const size_t smem = smem_bytes(a);
  if (smem > 96 * 1024) return false;  // weights of larger Cin · taps: the GEMM kernels
  static bool attr = [] {
    TW_CUDA_CHECK(cudaFuncSetAttribute(conv_narrow_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 96 * 1024));
    return true;
  }();
  (void)attr;
  const dim3 grid(unsigned((a.Wo + kTW - 1) / kTW), unsigned((a.Ho + kTH - 1) / kTH), unsigned(a.To));
  conv_narrow_kernel<<<grid, kThreads, smem, stream()>>>(a);
  TW_CUDA_CHECK_LAUNCH(conv_narrow_kernel);
  return true;
}

}  // namespace tw::cuda::convnarrow
