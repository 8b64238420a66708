// Direct conv for very few output channels (Cout ≤ 4: the VAE decoder's 96→3 RGB head) on the padded
// channels-last input of conv3d.cu's channels-last path.
//
// An implicit GEMM with Cout = 3 wastes most of a tensor-core tile and, worse, re-reads every input
// position once per tap (27× for 3×3×3) through L2 — the head took 4% of the decode on the mma.sync
// kernel. Here a CTA owns one output frame × 16 rows × 32 columns and stages the input halo of one input
// frame and 32 channels in shared memory ((16 + kh − 1) × (32 + kw − 1) positions): each input element
// is read from L2 a few times per output frame instead of 27. The taps then run on the tensor cores as
// small GEMMs straight out of the halo: mma.sync m16n8k16 with A = 16 consecutive output positions ×
// 16 channels (one ldmatrix.x4 at the tap's offset into the halo) and B = the tap's weights
// [8 outputs (zero-padded) × 16 channels]. Each warp owns 2 output rows × 32 columns (4 m16 tiles).
// Halo rows are 80 bytes (64 of data + 16 of padding) and weight rows Cin + 8 elements, so the 8-row
// ldmatrix reads hit distinct bank groups.
//
// Same math as the CPU reference up to summation order: bf16 operands, exact products, fp32 sums,
// one rounding to bf16.
#include "conv3d_narrow.h"

#include <cuda_runtime.h>

#include <cstdint>

#include "tw/cuda/device.h"

namespace tw::cuda::convnarrow {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kTW = 32, kTH = 16, kWarps = 8, kThreads = kWarps * 32;
constexpr int kRowBytes = 80;  // 32 channels × 2 B + 16 B pad

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__global__ void __launch_bounds__(kThreads) conv_narrow_kernel(const Args a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int taps = a.kt * a.kh * a.kw, ldw = a.Cin + 8;
  bf16* ws = reinterpret_cast<bf16*>(smem);                                          // [taps][8][ldw]
  unsigned char* halo = smem + (size_t(taps) * 8 * ldw * 2 + 15) / 16 * 16;         // [HH][HW] rows of 80 B
  const int HW = kTW + a.kw - 1, HH = kTH + a.kh - 1;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wo0 = blockIdx.x * kTW, ho0 = blockIdx.y * kTH, to = blockIdx.z;

  for (int i = tid; i < taps * 8 * a.Cin; i += kThreads) {
    const int ci = i % a.Cin, r = i / a.Cin, co = r & 7, tap = r >> 3;
    ws[size_t(r) * ldw + ci] = co < a.Cout ? a.wr[(size_t(co) * taps + tap) * a.Cin + ci] : __float2bfloat16_rn(0.f);
  }
  // m-tile i: output row warp + 8·(i >> 1), columns 16·(i & 1) … + 15; C fragment rows = positions,
  // columns = outputs 2·(lane & 3) + {0, 1}.
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[i][e] = 0.f;

  for (int dt = 0; dt < a.kt; ++dt) {
    const bf16* frame = a.xpc + size_t(to + dt) * a.Hp * a.Wp * a.Cin;
    for (int c0 = 0; c0 < a.Cin; c0 += 32) {
      __syncthreads();  // the previous slice's readers are done (and, the first time, the weights are in)
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
          const int tap = (dt * a.kh + dh) * a.kw + dw;
#pragma unroll
          for (int kk = 0; kk < 2; ++kk) {
            uint32_t b0, b1;  // B: 8 outputs × 16 channels, rows of ws (ldmatrix lanes 0–15 give the addresses)
            {
              const bf16* p = ws + (size_t(tap) * 8 + (lane & 7)) * ldw + c0 + kk * 16 + ((lane >> 3) & 1) * 8;
              asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(b0), "=r"(b1) : "r"(smem_u32(p)));
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              const int row = warp + 8 * (i >> 1) + dh, col = 16 * (i & 1) + (lane & 15) + dw;
              const unsigned char* p = halo + (row * HW + col) * kRowBytes + (kk * 16 + (lane >> 4) * 8) * 2;
              uint32_t x0, x1, x2, x3;
              asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                           : "=r"(x0), "=r"(x1), "=r"(x2), "=r"(x3) : "r"(smem_u32(p)));
              asm volatile(
                  "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                  : "+f"(acc[i][0]), "+f"(acc[i][1]), "+f"(acc[i][2]), "+f"(acc[i][3])
                  : "r"(x0), "r"(x1), "r"(x2), "r"(x3), "r"(b0), "r"(b1));
            }
          }
        }
      }
    }
  }
  const int co0 = 2 * (lane & 3);
  if (co0 >= a.Cout) return;
  const size_t N = size_t(a.To) * a.Ho * a.Wo;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int ho = ho0 + warp + 8 * (i >> 1), wo = wo0 + 16 * (i & 1) + (lane >> 2) + 8 * h;
      if (ho >= a.Ho || wo >= a.Wo) continue;
      const size_t n = (size_t(to) * a.Ho + ho) * a.Wo + wo;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int co = co0 + e;
        if (co >= a.Cout) continue;
        float v = acc[i][2 * h + e] + a.b.load(co, 0.f);
        if (a.res) v += __bfloat162float(a.res[size_t(co) * N + n]);
        a.y[size_t(co) * N + n] = __float2bfloat16_rn(v);
      }
    }
  }
}

size_t smem_bytes(const Args& a) {
  return (size_t(a.kt * a.kh * a.kw) * 8 * (a.Cin + 8) * 2 + 15) / 16 * 16 + size_t(kTH + a.kh - 1) * (kTW + a.kw - 1) * kRowBytes;
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
