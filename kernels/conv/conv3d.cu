// conv3d / conv2d on CUDA: implicit GEMM on the tensor cores (mma.sync m16n8k16, bf16 operands, fp32
// accumulation, one rounding to bf16) — the CPU reference's math with bf16 inputs and outputs.
//
//   y[co, n] = Σ_k w[co, k] · xp[col(n) + koff(k)] + b[co]
//
// M = Cout, N = To·Ho·Wo output positions, K = Cin·kt·kh·kw taps in PyTorch's weight order. xp is the
// input sequence [zeros(pad_t) | cache | x] with the spatial zero padding materialized once per call
// (one cheap pass), so the gather of a B tile needs no bounds checks: every k has one offset koff(k)
// (a table built per call) and every output column one base offset col(n) (computed once per thread).
// The B tile is stored n-major (k contiguous) so each thread packs its 16 gathered k values into two
// 16-byte shared stores and ldmatrix (non-transposed) yields the B fragments directly.
// Two B-operand paths:
//  - channels-last (Cin % 32 == 0: every Wan width): the padded input is written as [Tp, Hp, Wp, Cin] and
//    the weights as [Cout, taps, Cin], so a 32-tap slice of K is 32 contiguous channels of one tap and
//    every B row is one 64-byte run: 16-byte cp.async straight into shared memory, 3 stages deep.
//  - gather (any shape, e.g. the RGB input conv): the channel-first padded input and a per-tap offset
//    table, 2-byte gathers staged through registers, 2 stages.
// On sm_90 the channels-last path runs the warpgroup-MMA kernel of conv3d_wgmma.cu instead (Cout % 96 == 0:
// every Wan width; TW_CONV_KERNEL=mma keeps this file's kernel), and Cout ≤ 4 with stride 1 (RGB heads)
// the direct conv of conv3d_narrow.cu on any GPU (TW_CONV_NARROW=0 keeps the GEMM).
// Conv3dParams::x_padded_cl skips the pad pass (the producer wrote the padded channels-last input), and
// Conv2dParams::upsample folds a nearest upsample into it (the pass reads x at (h/f, w/f)).
// TW_CONV_GATHER=1 forces the gather path, TW_CONV_TILE=narrow / TW_CONV_MINB=3 other tile shapes (A/B benchmarks).
// Shapes and the op contract: kernels/include/tw/ops_conv.h. On CUDA: x, cache, y BF16; w BF16
// (contiguous); b any float dtype.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "conv3d_narrow.h"
#include "conv3d_wgmma.h"
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_conv.h"

namespace tw::cuda {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kBN = 128;        // output positions per CTA
constexpr int kBK = 32;         // taps per pipeline stage
constexpr int kLd = kBK + 8;    // shared row stride in elements (80 B: ldmatrix rows hit distinct banks)

struct ConvGemm {
  const bf16* xp;     // padded input [Cin, Tp, Hp, Wp]
  const bf16* w;      // [Cout, K]
  const int* koff;    // [ceil(K / kBK)·kBK] offset of tap k inside xp (0 past K: the weights there are 0)
  AnyFloatPtr b;      // [Cout] or null
  bf16* y;            // [Cout, N]
  const bf16* res;    // [Cout, N] added before the rounding, or null
  int Cout, K, N;
  int HWo, Wo;        // output grid (per frame, row)
  int st_HWp, sh_Wp, sw;  // xp offset of one output step in t, h, w
  bool vec_a;         // K % 8 == 0 and w 16-byte aligned: 16-byte weight loads
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t ld_u16(const bf16* p) {
  return uint32_t(__ldg(reinterpret_cast<const unsigned short*>(p)));
}

// CTA tile BM × 128 with WM × 4 warps; each warp owns (MI·16) × 32 outputs.
template <int MI, int WM>
__global__ void __launch_bounds__(WM * 4 * 32) conv_gemm_kernel(const ConvGemm a) {
  constexpr int kWN = 4, kNI = 4;
  constexpr int kThreads = WM * kWN * 32;
  constexpr int BM = WM * MI * 16;
  constexpr int kKPT = kBK * kBN / kThreads;                     // consecutive taps gathered per thread
  constexpr int kAVec = BM * kBK / 8;                            // 16-byte weight vectors per tile
  constexpr int kAV = (kAVec + kThreads - 1) / kThreads;
  static_assert(kKPT % 8 == 0, "each thread stores whole 16-byte groups of taps");
  __shared__ __align__(16) bf16 As[2][BM * kLd];
  __shared__ __align__(16) bf16 Bs[2][kBN * kLd];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / kWN, wn = warp % kWN;
  const int m0 = blockIdx.x * BM;
  const int n0 = blockIdx.y * kBN;

  // This thread's output column for the B gather (clamped to column 0 past N; never stored).
  const int bn = tid % kBN, kq = tid / kBN;
  int col = 0;
  {
    const int n = n0 + bn;
    if (n < a.N) {
      const int to = n / a.HWo, r = n - to * a.HWo;
      const int ho = r / a.Wo, wo = r - ho * a.Wo;
      col = to * a.st_HWp + ho * a.sh_Wp + wo * a.sw;
    }
  }
  const bf16* xcol = a.xp + col;
  const int nk = (a.K + kBK - 1) / kBK;

  uint32_t breg[kKPT / 2];
  uint4 areg[kAV];

  auto load_tile = [&](int kt) {
    const int k0 = kt * kBK;
    const int* ko = a.koff + k0 + kq * kKPT;
#pragma unroll
    for (int j = 0; j < kKPT; j += 4) {
      const int4 o = *reinterpret_cast<const int4*>(ko + j);
      const uint32_t v0 = ld_u16(xcol + o.x), v1 = ld_u16(xcol + o.y), v2 = ld_u16(xcol + o.z), v3 = ld_u16(xcol + o.w);
      breg[j / 2] = v0 | (v1 << 16);
      breg[j / 2 + 1] = v2 | (v3 << 16);
    }
#pragma unroll
    for (int i = 0; i < kAV; ++i) {
      const int v = tid + i * kThreads;
      uint4 val = make_uint4(0u, 0u, 0u, 0u);
      if (v < kAVec) {
        const int row = v >> 2, kc = (v & 3) * 8;
        const int m = m0 + row, k = k0 + kc;
        if (m < a.Cout) {
          const bf16* src = a.w + size_t(m) * size_t(a.K) + k;
          if (a.vec_a) {
            if (k < a.K) val = __ldg(reinterpret_cast<const uint4*>(src));
          } else {
            uint32_t h[8];
#pragma unroll
            for (int e = 0; e < 8; ++e) h[e] = k + e < a.K ? ld_u16(src + e) : 0u;
            val = make_uint4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16));
          }
        }
      }
      areg[i] = val;
    }
  };
  auto store_tile = [&](int buf) {
    uint4* dst = reinterpret_cast<uint4*>(&Bs[buf][bn * kLd + kq * kKPT]);
#pragma unroll
    for (int j = 0; j < kKPT / 8; ++j) dst[j] = make_uint4(breg[4 * j], breg[4 * j + 1], breg[4 * j + 2], breg[4 * j + 3]);
#pragma unroll
    for (int i = 0; i < kAV; ++i) {
      const int v = tid + i * kThreads;
      if (v < kAVec) *reinterpret_cast<uint4*>(&As[buf][(v >> 2) * kLd + (v & 3) * 8]) = areg[i];
    }
  };

  float acc[MI][kNI][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < kNI; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.f;

  load_tile(0);
  store_tile(0);
  __syncthreads();
  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt & 1;
    if (kt + 1 < nk) load_tile(kt + 1);  // global loads in flight while the tensor cores work
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[MI][4], bfr[kNI][2];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        const int row = wm * MI * 16 + mi * 16 + (lane & 15);
        ldmatrix_x4(af[mi], &As[cur][row * kLd + kk + (lane >> 4) * 8]);
      }
#pragma unroll
      for (int nj = 0; nj < kNI / 2; ++nj) {
        uint32_t r[4];
        const int nrow = wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
        ldmatrix_x4(r, &Bs[cur][nrow * kLd + kk + ((lane >> 3) & 1) * 8]);
        bfr[2 * nj][0] = r[0]; bfr[2 * nj][1] = r[1];
        bfr[2 * nj + 1][0] = r[2]; bfr[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < kNI; ++ni) mma_bf16(acc[mi][ni], af[mi], bfr[ni][0], bfr[ni][1]);
    }
    if (kt + 1 < nk) store_tile(cur ^ 1);
    __syncthreads();
  }

  // Epilogue: + bias, one rounding to bf16; pairs of adjacent outputs as one 4-byte store.
  const bool pairs = (a.N & 1) == 0;
#pragma unroll
  for (int mi = 0; mi < MI; ++mi) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + wm * MI * 16 + mi * 16 + (lane >> 2) + h * 8;
      if (m >= a.Cout) continue;
      const float bias = a.b.load(m, 0.f);
      bf16* yrow = a.y + size_t(m) * size_t(a.N);
      const bf16* rrow = a.res ? a.res + size_t(m) * size_t(a.N) : nullptr;
#pragma unroll
      for (int ni = 0; ni < kNI; ++ni) {
        const int n = n0 + wn * 32 + ni * 8 + (lane & 3) * 2;
        float v0 = acc[mi][ni][2 * h] + bias, v1 = acc[mi][ni][2 * h + 1] + bias;
        if (rrow) {
          if (n < a.N) v0 += __bfloat162float(rrow[n]);
          if (n + 1 < a.N) v1 += __bfloat162float(rrow[n + 1]);
        }
        if (pairs && n + 1 < a.N) {
          *reinterpret_cast<__nv_bfloat162*>(yrow + n) = __floats2bfloat162_rn(v0, v1);
        } else {
          if (n < a.N) yrow[n] = __float2bfloat16_rn(v0);
          if (n + 1 < a.N) yrow[n + 1] = __float2bfloat16_rn(v1);
        }
      }
    }
  }
}

// xp[ci, tp, hp, wp] = [zeros(pad_t) | cache | x][ci, tp][hp − top, wp − left] (0 outside): one CTA per row.
__global__ void pad_input_kernel(const bf16* __restrict__ x, const bf16* __restrict__ cache, bf16* __restrict__ xp,
                                 int T, int Tc, int H, int W, int pad_t, int Tp, int Hp, int Wp, int top, int left) {
  const int row = blockIdx.x;  // (ci·Tp + tp)·Hp + hp
  const int hp = row % Hp, r = row / Hp, tp = r % Tp, ci = r / Tp;
  const int f = tp - pad_t, h = hp - top;
  bf16* dst = xp + size_t(row) * Wp;
  const bf16* src = nullptr;
  if (f >= 0 && h >= 0 && h < H)
    src = f < Tc ? cache + (size_t(ci) * Tc + f) * size_t(H) * W + size_t(h) * W
                 : x + (size_t(ci) * T + (f - Tc)) * size_t(H) * W + size_t(h) * W;
  const bf16 zero = __float2bfloat16_rn(0.f);
  for (int wp = threadIdx.x; wp < Wp; wp += blockDim.x) {
    const int w = wp - left;
    dst[wp] = (src && w >= 0 && w < W) ? src[w] : zero;
  }
}

// koff[k] for k = (ci, dt, dh, dw) in weight order; 0 for k ≥ K.
__global__ void tap_offsets_kernel(int* koff, int K, int Kpad, int kt, int kh, int kw, int TpHpWp, int HpWp, int Wp) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= Kpad) return;
  if (k >= K) { koff[k] = 0; return; }
  const int dw = k % kw, r1 = k / kw, dh = r1 % kh, r2 = r1 / kh, dt = r2 % kt, ci = r2 / kt;
  koff[k] = ci * TpHpWp + dt * HpWp + dh * Wp + dw;
}


// ---------------------------------------------------------------- channels-last path
struct ConvGemmCL {
  const bf16* xpc;    // padded input, channels last [Tp, Hp, Wp, Cin]
  const bf16* wr;     // weights [Cout, taps, Cin]
  AnyFloatPtr b;
  bf16* y;            // [Cout, N]
  const bf16* res;    // [Cout, N] or null
  int Cout, Cin, K, N;
  int HWo, Wo;
  int HpWp, Wp, kh, kw, khw;
  int st, sh, sw;
};

constexpr int kStages = 3;

__device__ __forceinline__ void cp_async16_ca(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async16_cg(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

template <int MI, int WM>
constexpr int cl_smem_bytes() { return kStages * (WM * MI * 16 + kBN) * kLd * 2; }

// CTA tile BM × 128 with WM × WN warps; each warp owns (MI·16) × (NI·8) outputs (WN·NI·8 = 128).
template <int MI, int NI, int WM, int WN, int kMinBlocks>
__global__ void __launch_bounds__(WM * WN * 32, kMinBlocks) conv_gemm_cl_kernel(const ConvGemmCL a) {
  constexpr int kWN = WN, kNI = NI;
  static_assert(WN * NI * 8 == kBN, "the warps must cover the 128 columns of the tile");
  constexpr int kThreads = WM * kWN * 32;
  constexpr int BM = WM * MI * 16;
  constexpr int kBChunks = kBN * kBK / 8, kBPer = kBChunks / kThreads;   // 16-byte chunks per thread
  constexpr int kAChunks = BM * kBK / 8, kAPer = (kAChunks + kThreads - 1) / kThreads;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* As = reinterpret_cast<bf16*>(smem_raw);                 // [kStages][BM * kLd]
  bf16* Bs = As + kStages * BM * kLd;                           // [kStages][kBN * kLd]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / kWN, wn = warp % kWN;
  const int m0 = blockIdx.x * BM;
  const int n0 = blockIdx.y * kBN;

  // This thread's B chunks: rows (output positions) and 8-channel groups, fixed over K.
  int pix[kBPer];
  bool nval[kBPer];
#pragma unroll
  for (int i = 0; i < kBPer; ++i) {
    const int c = tid + i * kThreads, n = n0 + (c >> 2);
    nval[i] = n < a.N;
    pix[i] = 0;
    if (nval[i]) {
      const int to = n / a.HWo, r = n - to * a.HWo;
      const int ho = r / a.Wo, wo = r - ho * a.Wo;
      pix[i] = (to * a.st) * a.HpWp + (ho * a.sh) * a.Wp + wo * a.sw;
    }
  }
  const int nk = a.K / kBK;  // Cin % 32 == 0: whole tiles, each inside one tap

  auto load_tile = [&](int kt, int stage) {
    const int k0 = kt * kBK;
    const int tap = k0 / a.Cin, c0 = k0 - tap * a.Cin;
    const int dt = tap / a.khw, r = tap - dt * a.khw, dh = r / a.kw, dw = r - dh * a.kw;
    const int tapoff = dt * a.HpWp + dh * a.Wp + dw;
    bf16* bs = Bs + stage * kBN * kLd;
#pragma unroll
    for (int i = 0; i < kBPer; ++i) {
      const int c = tid + i * kThreads, row = c >> 2, q = c & 3;
      const bf16* src = a.xpc + size_t(pix[i] + tapoff) * size_t(a.Cin) + c0 + q * 8;
      cp_async16_ca(bs + row * kLd + q * 8, nval[i] ? src : a.xpc, nval[i]);
    }
    bf16* as = As + stage * BM * kLd;
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      const int c = tid + i * kThreads;
      if (c < kAChunks) {
        const int row = c >> 2, q = c & 3, m = m0 + row;
        const bool ok = m < a.Cout;
        cp_async16_cg(as + row * kLd + q * 8, ok ? a.wr + size_t(m) * size_t(a.K) + k0 + q * 8 : a.wr, ok);
      }
    }
  };

  float acc[MI][kNI][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < kNI; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.f;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nk) load_tile(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < nk; ++kt) {
    cp_async_wait<kStages - 2>();  // tile kt has landed (this thread's copies) ...
    __syncthreads();               // ... everyone's, and everyone is done with the stage refilled next
    const int nxt = kt + kStages - 1;
    if (nxt < nk) load_tile(nxt, nxt % kStages);
    cp_async_commit();
    const int cur = kt % kStages;
    const bf16* as = As + cur * BM * kLd;
    const bf16* bs = Bs + cur * kBN * kLd;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[MI][4], bfr[kNI][2];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        const int row = wm * MI * 16 + mi * 16 + (lane & 15);
        ldmatrix_x4(af[mi], as + row * kLd + kk + (lane >> 4) * 8);
      }
#pragma unroll
      for (int nj = 0; nj < kNI / 2; ++nj) {
        uint32_t r[4];
        const int nrow = wn * kNI * 8 + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
        ldmatrix_x4(r, bs + nrow * kLd + kk + ((lane >> 3) & 1) * 8);
        bfr[2 * nj][0] = r[0]; bfr[2 * nj][1] = r[1];
        bfr[2 * nj + 1][0] = r[2]; bfr[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < kNI; ++ni) mma_bf16(acc[mi][ni], af[mi], bfr[ni][0], bfr[ni][1]);
    }
  }
  cp_async_wait<0>();

  const bool pairs = (a.N & 1) == 0;
#pragma unroll
  for (int mi = 0; mi < MI; ++mi) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + wm * MI * 16 + mi * 16 + (lane >> 2) + h * 8;
      if (m >= a.Cout) continue;
      const float bias = a.b.load(m, 0.f);
      bf16* yrow = a.y + size_t(m) * size_t(a.N);
      const bf16* rrow = a.res ? a.res + size_t(m) * size_t(a.N) : nullptr;
#pragma unroll
      for (int ni = 0; ni < kNI; ++ni) {
        const int n = n0 + wn * kNI * 8 + ni * 8 + (lane & 3) * 2;
        float v0 = acc[mi][ni][2 * h] + bias, v1 = acc[mi][ni][2 * h + 1] + bias;
        if (rrow) {
          if (n < a.N) v0 += __bfloat162float(rrow[n]);
          if (n + 1 < a.N) v1 += __bfloat162float(rrow[n + 1]);
        }
        if (pairs && n + 1 < a.N) {
          *reinterpret_cast<__nv_bfloat162*>(yrow + n) = __floats2bfloat162_rn(v0, v1);
        } else {
          if (n < a.N) yrow[n] = __float2bfloat16_rn(v0);
          if (n + 1 < a.N) yrow[n + 1] = __float2bfloat16_rn(v1);
        }
      }
    }
  }
}

// xpc[tp, hp, wp, ci] = [zeros(pad_t) | cache | x][ci, tp][hp − top, wp − left] (0 outside), through a
// 32×32 shared tile (coalesced reads along w, writes along ci). grid (Wp/32, Cin/32, Tp·Hp).
// up > 1: x and cache are stored at H/up × W/up and read nearest-upsampled (conv2d's fused upsample).
__global__ void pad_channels_last_kernel(const bf16* __restrict__ x, const bf16* __restrict__ cache, bf16* __restrict__ xpc,
                                         int Cin, int T, int Tc, int H, int W, int pad_t, int Hp, int Wp, int top, int left, int up) {
  __shared__ bf16 tile[32][34];
  const int row = blockIdx.z, hp = row % Hp, tp = row / Hp;
  const int f = tp - pad_t, h = hp - top;
  const int wp0 = blockIdx.x * 32, ci0 = blockIdx.y * 32;
  const bool row_ok = f >= 0 && h >= 0 && h < H;
  const bf16 zero = __float2bfloat16_rn(0.f);
  const int Hs = H / up, Ws = W / up;  // stored extents
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int ci = ci0 + i, w = wp0 + threadIdx.x - left;
    bf16 v = zero;
    if (row_ok && ci < Cin && w >= 0 && w < W) {
      const int hs = h / up, ws = w / up;
      v = f < Tc ? cache[(size_t(ci) * Tc + f) * size_t(Hs) * Ws + size_t(hs) * Ws + ws]
                 : x[(size_t(ci) * T + (f - Tc)) * size_t(Hs) * Ws + size_t(hs) * Ws + ws];
    }
    tile[i][threadIdx.x] = v;
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int wp = wp0 + i, ci = ci0 + threadIdx.x;
    if (wp < Wp && ci < Cin) xpc[(size_t(row) * Wp + wp) * Cin + ci] = tile[threadIdx.x][i];
  }
}

// wr[co, tap, ci] = w[co, ci, tap]
__global__ void weights_tap_major_kernel(const bf16* __restrict__ w, bf16* __restrict__ wr, int64_t total, int Cin, int taps) {
  const int64_t K = int64_t(Cin) * taps;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t co = i / K, r = i - co * K;
    const int tap = int(r / Cin), ci = int(r - int64_t(tap) * Cin);
    wr[i] = w[(co * Cin + ci) * taps + tap];
  }
}

template <int MI, int NI, int WM, int WN, int kMinBlocks>
void launch_gemm_cl(const ConvGemmCL& g) {
  constexpr int BM = WM * MI * 16, kSmem = cl_smem_bytes<MI, WM>();
  static bool attr = [] {
    auto* k = conv_gemm_cl_kernel<MI, NI, WM, WN, kMinBlocks>;
    TW_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    TW_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, int(cudaSharedmemCarveoutMaxShared)));
    return true;
  }();
  (void)attr;
  const dim3 grid(unsigned((g.Cout + BM - 1) / BM), unsigned((g.N + kBN - 1) / kBN));
  conv_gemm_cl_kernel<MI, NI, WM, WN, kMinBlocks><<<grid, WM * WN * 32, kSmem, stream()>>>(g);
  TW_CUDA_CHECK_LAUNCH(conv_gemm_cl_kernel);
}

// Wide tiles (default): 4 warps of 48×64 (Cout % 96) or 64×64 (Cout % 128) per CTA, fewer ldmatrix per
// mma than 8 warps of 48×32 — 2.4% faster VAE decode on an H100 (bench/results/2026-11-26-h100-vae.md).
// TW_CONV_TILE=narrow selects the 8-warp tiles (benchmarking).
bool cl_wide() {
  static const bool v = [] { const char* e = std::getenv("TW_CONV_TILE"); return !(e && std::string(e) == "narrow"); }();
  return v;
}

// TW_CONV_MINB=3: register budget for 3 resident CTAs of the 96-row tile instead of 2 (benchmarking).
int cl_min_blocks() {
  static const int v = [] { const char* e = std::getenv("TW_CONV_MINB"); return e && e[0] == '3' ? 3 : 2; }();
  return v;
}

// TW_CONV_NARROW=0: Cout ≤ 4 convs through the GEMM kernels instead of conv3d_narrow.cu (benchmarking).
bool force_gemm_narrow() {
  static const bool v = [] { const char* e = std::getenv("TW_CONV_NARROW"); return e && e[0] == '0'; }();
  return v;
}

bool force_gather() {
  static const bool v = [] { const char* e = std::getenv("TW_CONV_GATHER"); return e && e[0] == '1'; }();
  return v;
}

template <int MI, int WM>
void launch_gemm(const ConvGemm& g) {
  constexpr int BM = WM * MI * 16;
  const dim3 grid(unsigned((g.Cout + BM - 1) / BM), unsigned((g.N + kBN - 1) / kBN));
  conv_gemm_kernel<MI, WM><<<grid, WM * 4 * 32, 0, stream()>>>(g);
  TW_CUDA_CHECK_LAUNCH(conv_gemm_kernel);
}

struct Geom {
  int64_t Cin, T, Tc, H, W, Cout, kt, kh, kw, To, Ho, Wo;
};

// pre_padded: x is already the padded channels-last input [Tp, Hp, Wp, Cin] (Conv3dParams::x_padded_cl; every
// pad 0, no cache). up > 1: g.H/g.W are the upsampled extents of x (Conv2dParams::upsample).
void run_conv(const char* op, const Tensor& x, const Tensor& cache, const Tensor& w, const Tensor& b, const Tensor& y,
              const Tensor& residual, const Geom& g, int64_t st, int64_t sh, int64_t sw, int64_t pad_t, int64_t top, int64_t bottom, int64_t left,
              int64_t right, bool pre_padded = false, int64_t up = 1) {
  check_cuda_tensor(x, op, "x");
  check_cuda_tensor(w, op, "w");
  check_cuda_tensor(y, op, "y");
  check(x.dtype == DType::BF16 && y.dtype == DType::BF16, op, "on CUDA x and y must be bfloat16");
  check(w.dtype == DType::BF16, op, "on CUDA w must be bfloat16 (upload the weights as bf16)");
  if (!cache.empty()) {
    check_cuda_tensor(cache, op, "cache");
    check(cache.dtype == DType::BF16, op, "on CUDA cache must be bfloat16");
  }
  if (!b.empty()) { check_cuda_tensor(b, op, "b"); check_float_dtype(b, op, "b"); }
  check(y.data != x.data && (cache.empty() || y.data != cache.data), op, "y must not alias x or cache");
  if (!residual.empty()) {
    check_cuda_tensor(residual, op, "residual");
    check(residual.dtype == DType::BF16, op, "on CUDA residual must be bfloat16");
  }
  const bf16* res = residual.empty() ? nullptr : static_cast<const bf16*>(residual.data);

  const int64_t Tp = pad_t + g.Tc + g.T, Hp = g.H + top + bottom, Wp = g.W + left + right;
  const int64_t K = g.Cin * g.kt * g.kh * g.kw, N = g.To * g.Ho * g.Wo;
  const int64_t xp_elems = g.Cin * Tp * Hp * Wp;
  check(xp_elems < (int64_t(1) << 31) && K < (int64_t(1) << 30) && g.Cout * N < (int64_t(1) << 40), op,
        "input too large for 32-bit offsets; split it into chunks of frames");
  check((N + kBN - 1) / kBN <= 65535, op, "too many output positions for one launch; split it into chunks of frames");
  if (N == 0 || g.Cout == 0) return;
  const bool cl_ok = g.Cin % 32 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
  if (pre_padded || up > 1)
    check(cl_ok && reinterpret_cast<uintptr_t>(x.data) % 16 == 0, op,
          "x_padded_cl / upsample need Cin % 32 == 0 and 16-byte aligned x and w on CUDA");

  if (cl_ok && (pre_padded || up > 1 || !force_gather())) {
    const int64_t taps = g.kt * g.kh * g.kw;
    ScratchPlan plan;
    const size_t off_w = plan.add(size_t(g.Cout * K) * sizeof(bf16));
    const size_t off_x = pre_padded ? 0 : plan.add(size_t(xp_elems) * sizeof(bf16));
    char* base = static_cast<char*>(scratch(plan.total(), 0));
    bf16* wr = reinterpret_cast<bf16*>(base + off_w);
    bf16* xpc = pre_padded ? static_cast<bf16*>(x.data) : reinterpret_cast<bf16*>(base + off_x);
    const int64_t wtotal = g.Cout * K;
    weights_tap_major_kernel<<<unsigned(std::min<int64_t>((wtotal + 255) / 256, 65536)), 256, 0, stream()>>>(
        static_cast<const bf16*>(w.data), wr, wtotal, int(g.Cin), int(taps));
    TW_CUDA_CHECK_LAUNCH(weights_tap_major_kernel);
    if (!pre_padded) {
      check(Tp * Hp <= 65535, op, "too many padded rows for one launch; split it into chunks of frames");
      const dim3 pgrid(unsigned((Wp + 31) / 32), unsigned(g.Cin / 32), unsigned(Tp * Hp)), pblock(32, 8);
      pad_channels_last_kernel<<<pgrid, pblock, 0, stream()>>>(
          static_cast<const bf16*>(x.data), cache.empty() ? nullptr : static_cast<const bf16*>(cache.data), xpc, int(g.Cin), int(g.T),
          int(g.Tc), int(g.H), int(g.W), int(pad_t), int(Hp), int(Wp), int(top), int(left), int(up));
      TW_CUDA_CHECK_LAUNCH(pad_channels_last_kernel);
    }
    if (st == 1 && sh == 1 && sw == 1 && g.Cout <= 4 && !force_gemm_narrow()) {
      // RGB heads: a direct conv that reads each input element about once (conv3d_narrow.cu).
      convnarrow::Args c;
      c.xpc = xpc; c.wr = wr; c.b = AnyFloatPtr::of(b); c.y = static_cast<bf16*>(y.data); c.res = res;
      c.Cin = int(g.Cin); c.Cout = int(g.Cout); c.kt = int(g.kt); c.kh = int(g.kh); c.kw = int(g.kw);
      c.Hp = int(Hp); c.Wp = int(Wp); c.To = int(g.To); c.Ho = int(g.Ho); c.Wo = int(g.Wo);
      if (convnarrow::run(c)) return;
    }
    {
      // Hopper: the warpgroup-MMA kernel (conv3d_wgmma.cu) when it covers the shape; else mma.sync below.
      convwg::Args c;
      c.xpc = xpc; c.wr = wr; c.b = AnyFloatPtr::of(b); c.y = static_cast<bf16*>(y.data); c.res = res;
      c.Cout = int(g.Cout); c.Cin = int(g.Cin); c.K = int(K); c.N = int(N);
      c.HWo = int(g.Ho * g.Wo); c.Wo = int(g.Wo);
      c.HpWp = int(Hp * Wp); c.Wp = int(Wp); c.kh = int(g.kh); c.kw = int(g.kw);
      c.st = int(st); c.sh = int(sh); c.sw = int(sw);
      if (convwg::run(c)) return;
    }
    ConvGemmCL a;
    a.xpc = xpc; a.wr = wr;
    a.b = AnyFloatPtr::of(b);
    a.y = static_cast<bf16*>(y.data);
    a.res = res;
    a.Cout = int(g.Cout); a.Cin = int(g.Cin); a.K = int(K); a.N = int(N);
    a.HWo = int(g.Ho * g.Wo); a.Wo = int(g.Wo);
    a.HpWp = int(Hp * Wp); a.Wp = int(Wp); a.kh = int(g.kh); a.kw = int(g.kw); a.khw = int(g.kh * g.kw);
    a.st = int(st); a.sh = int(sh); a.sw = int(sw);
    if (cl_wide() && g.Cout % 128 == 0) launch_gemm_cl<4, 8, 2, 2, 2>(a);
    else if (cl_wide() && g.Cout % 96 == 0) launch_gemm_cl<3, 8, 2, 2, 2>(a);
    else if (g.Cout % 96 == 0) { if (cl_min_blocks() == 3) launch_gemm_cl<3, 4, 2, 4, 3>(a); else launch_gemm_cl<3, 4, 2, 4, 2>(a); }
    else if (g.Cout > 32) launch_gemm_cl<2, 4, 2, 4, 2>(a);
    else if (g.Cout > 16) launch_gemm_cl<1, 4, 2, 4, 2>(a);
    else launch_gemm_cl<1, 4, 1, 4, 2>(a);
    return;
  }

  const bool padded = pad_t > 0 || g.Tc > 0 || top > 0 || bottom > 0 || left > 0 || right > 0;
  const int64_t Kpad = (K + kBK - 1) / kBK * kBK;
  ScratchPlan plan;
  const size_t off_k = plan.add(size_t(Kpad) * sizeof(int));
  const size_t off_x = padded ? plan.add(size_t(xp_elems) * sizeof(bf16)) : 0;
  char* base = static_cast<char*>(scratch(plan.total(), 0));
  int* koff = reinterpret_cast<int*>(base + off_k);
  const bf16* xp = static_cast<const bf16*>(x.data);
  if (padded) {
    bf16* xpw = reinterpret_cast<bf16*>(base + off_x);
    const int64_t rows = g.Cin * Tp * Hp;
    pad_input_kernel<<<unsigned(rows), Wp >= 256 ? 256 : 128, 0, stream()>>>(
        static_cast<const bf16*>(x.data), cache.empty() ? nullptr : static_cast<const bf16*>(cache.data), xpw, int(g.T),
        int(g.Tc), int(g.H), int(g.W), int(pad_t), int(Tp), int(Hp), int(Wp), int(top), int(left));
    TW_CUDA_CHECK_LAUNCH(pad_input_kernel);
    xp = xpw;
  }
  tap_offsets_kernel<<<unsigned((Kpad + 255) / 256), 256, 0, stream()>>>(koff, int(K), int(Kpad), int(g.kt), int(g.kh), int(g.kw),
                                                                         int(Tp * Hp * Wp), int(Hp * Wp), int(Wp));
  TW_CUDA_CHECK_LAUNCH(tap_offsets_kernel);

  ConvGemm a;
  a.xp = xp;
  a.w = static_cast<const bf16*>(w.data);
  a.koff = koff;
  a.b = AnyFloatPtr::of(b);
  a.y = static_cast<bf16*>(y.data);
  a.res = res;
  a.Cout = int(g.Cout); a.K = int(K); a.N = int(N);
  a.HWo = int(g.Ho * g.Wo); a.Wo = int(g.Wo);
  a.st_HWp = int(st * Hp * Wp); a.sh_Wp = int(sh * Wp); a.sw = int(sw);
  a.vec_a = K % 8 == 0 && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
  // Tile height: Wan's widths are multiples of 96 (96/192/384) → 96 rows, no waste; 3-channel heads → 16.
  if (g.Cout % 96 == 0) launch_gemm<3, 2>(a);
  else if (g.Cout > 32) launch_gemm<2, 2>(a);
  else if (g.Cout > 16) launch_gemm<1, 2>(a);
  else launch_gemm<1, 1>(a);
}

}  // namespace

bool conv_wgmma_available() { return convwg::available(); }

void conv3d(const ops::Conv3dParams& p) {
  // Shapes, strides and paddings were validated by ops::conv3d before dispatch.
  Geom g{};
  if (p.x_padded_cl) g.Cin = p.x.size(3), g.T = p.x.size(0), g.H = p.x.size(1), g.W = p.x.size(2);  // [Tp, Hp, Wp, Cin]
  else g.Cin = p.x.size(0), g.T = p.x.size(1), g.H = p.x.size(2), g.W = p.x.size(3);
  g.Cout = p.w.size(0), g.kt = p.w.size(2), g.kh = p.w.size(3), g.kw = p.w.size(4);
  g.Tc = p.cache.empty() ? 0 : p.cache.size(1);
  g.To = p.y.size(1), g.Ho = p.y.size(2), g.Wo = p.y.size(3);
  run_conv("conv3d", p.x, p.cache, p.w, p.b, p.y, p.residual, g, p.stride_t, p.stride_h, p.stride_w, p.pad_t, p.pad_top, p.pad_bottom,
           p.pad_left, p.pad_right, p.x_padded_cl);
}

void conv2d(const ops::Conv2dParams& p) {
  const char* op = "conv2d";
  const bool image = p.x.ndim == 3;
  Geom g{};
  g.Cin = p.x.size(0), g.T = image ? 1 : p.x.size(1), g.H = p.x.size(-2) * p.upsample, g.W = p.x.size(-1) * p.upsample;
  g.Cout = p.w.size(0), g.kt = 1, g.kh = p.w.size(2), g.kw = p.w.size(3);
  check(p.w.size(1) == g.Cin, op, "w " + p.w.shape_str() + " does not match the input channels of x " + p.x.shape_str());
  g.Tc = 0;
  g.To = g.T;
  g.Ho = ops::conv_out_size(g.H, p.pad_top + p.pad_bottom, g.kh, p.stride_h, "height");
  g.Wo = ops::conv_out_size(g.W, p.pad_left + p.pad_right, g.kw, p.stride_w, "width");
  if (image) check_shape(p.y, {g.Cout, g.Ho, g.Wo}, op, "y");
  else check_shape(p.y, {g.Cout, g.T, g.Ho, g.Wo}, op, "y");
  if (!p.b.empty()) check(p.b.numel() == g.Cout, op, "b must have Cout elements");
  run_conv(op, p.x, Tensor{}, p.w, p.b, p.y, Tensor{}, g, 1, p.stride_h, p.stride_w, 0, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right,
           false, p.upsample);
}

}  // namespace tw::cuda
