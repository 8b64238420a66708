// Channels-last conv3d / conv2d as an implicit GEMM on Hopper's warpgroup MMA (wgmma, sm_90a).
//
// GEMM view (transposed w.r.t. the mma.sync kernel in conv3d.cu, so that the wide dimension is wgmma's M):
//   M = output positions n (ROWS per CTA: 2 warpgroups × MT m64 tiles), N = Cout (BN per CTA: 96 or 192),
//   K = taps · Cin, walked in 32-channel sub-tiles that each lie inside one tap (32 | Cin).
// A (positions × K) comes straight from the padded channels-last input: the 32 channels of one tap for
// one output position are one 64-byte run, so 4 16-byte cp.async per row fill a K-major tile in the
// 64-byte swizzle (rows of 32 bf16). B (Cout × K) is the tap-major weight copy [Cout, taps, Cin],
// K-major, same swizzle. Both operands feed wgmma from shared memory (m64nBNk16, fp32 accumulation).
//
// Pipeline: S shared-memory slots of KS sub-tiles each, S−2 slots of cp.async in flight ahead of the
// one being multiplied, and the wgmma batch of the previous slot still running while the next one
// issues (wait_group 1): slot kt−2 is refilled only after every warpgroup has retired its wgmma.
// All 256 threads both load and multiply (no producer warp): the loads are cp.async, so issue is cheap.
// Epilogue: + bias (+ residual), one rounding to bf16, staged transposed through shared memory (fp32, half
// the channels at a time) so each output channel's run of positions is read (residual) and written as
// 16-byte coalesced accesses in the channel-first layout.
//
// Same math as the CPU reference and the mma.sync kernel: bf16 operands, exact products, fp32 sums,
// one rounding. Built for every arch; the body exists only in the sm_90a image (others get an empty
// kernel that run() never launches: it checks the device and the kernel's PTX version first).
#include "conv3d_wgmma.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "tw/cuda/device.h"
#include "tw/cuda/sm90.cuh"

namespace tw::cuda::convwg {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kThreads = 256;  // 2 warpgroups

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Activations through L1 (.ca): the taps of neighbouring positions re-read the same input rows.
__device__ __forceinline__ void cp_async16_ca(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 16 : 0));
}
#endif

template <int BN, int MT, int KS, int S>
struct Cfg {
  static constexpr int kRows = 2 * MT * 64;                  // output positions per CTA
  static constexpr int kSubA = kRows * 64, kSubB = BN * 64;  // bytes of one 32-channel sub-tile
  static constexpr int kStage = KS * (kSubA + kSubB);
  static constexpr int kLdO = kRows + 4;                     // epilogue staging row (fp32): conflict-free
  static constexpr int kSmem = S * kStage + BN * 4 + 1024;   // + bias + alignment slack
  static_assert(S >= 3, "needs a slot being multiplied, one retiring and one loading");
  static_assert(BN / 2 * kLdO * 4 <= S * kStage, "the epilogue staging tile (half the channels) reuses the pipeline slots");
  static_assert(kSmem <= 227 * 1024, "shared memory");
  static_assert(kStage % 512 == 0 && kSubA % 512 == 0 && kSubB % 512 == 0, "SW64 tiles need 512-byte alignment");
};

template <int BN, int MT, int KS, int S>
__global__ void __launch_bounds__(kThreads, 1) conv_wgmma_kernel(const Args a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = Cfg<BN, MT, KS, S>;
  constexpr int kRows = C::kRows, kSubA = C::kSubA, kSubB = C::kSubB, kStage = C::kStage;
  constexpr int kAPer = kRows * 4 / kThreads;                    // A chunks per thread per sub-tile
  constexpr int kBPer = (BN * 4 + kThreads - 1) / kThreads;      // B chunks per thread per sub-tile
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  float* sbias = reinterpret_cast<float*>(smem + S * kStage);  // [BN], visible after the first barrier below

  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int c0 = blockIdx.x * BN;     // first output channel
  const int n0 = blockIdx.y * kRows;  // first output position
  for (int i = tid; i < BN; i += kThreads) sbias[i] = a.b.load(c0 + i, 0.f);
  const int q = tid & 3;              // this thread's 16-byte chunk of every 64-byte row it copies

  // A rows (output positions) this thread copies: rows tid/4 + 64 i. Element offset of the position
  // in xpc (its first channel); −1 past N (zero-filled rows, never stored).
  int apos[kAPer], asw[kAPer];
#pragma unroll
  for (int i = 0; i < kAPer; ++i) {
    const int row = (tid >> 2) + 64 * i, n = n0 + row;
    asw[i] = sm90::swz64(row, q);
    apos[i] = -1;
    if (n < a.N) {
      const int to = n / a.HWo, r = n - to * a.HWo;
      const int ho = r / a.Wo, wo = r - ho * a.Wo;
      apos[i] = ((to * a.st) * a.HpWp + (ho * a.sh) * a.Wp + wo * a.sw) * a.Cin + q * 8;
    }
  }
  int bsw[kBPer], boff[kBPer];
#pragma unroll
  for (int i = 0; i < kBPer; ++i) {
    const int row = (tid >> 2) + 64 * i;
    bsw[i] = sm90::swz64(row, q);
    boff[i] = (c0 + row) * a.K + q * 8;
  }

  const int nsub = a.K >> 5;
  const int nk = (nsub + KS - 1) / KS;  // a last slot past K is zero-filled (K/32 odd with KS = 2: Cin = 96)

  // Sub-tiles are loaded strictly in order, so the tap walk is incremental (no divisions in the loop):
  // ld_off = (dt·HpWp + dh·Wp + dw)·Cin + cc is the xpc offset of sub-tile ld_k / 32, cc its channel.
  int ld_k = 0, ld_off = 0, ld_cc = 0, ld_dw = 0, ld_dh = 0;
  auto load = [&](int slot) {
    unsigned char* sa = smem + slot * kStage;
    unsigned char* sb = sa + KS * kSubA;
#pragma unroll
    for (int s = 0; s < KS; ++s) {
      const bool kin = ld_k < a.K;  // else zeros: 0 · 0 adds nothing
#pragma unroll
      for (int i = 0; i < kAPer; ++i) {
        const bool ok = kin && apos[i] >= 0;
        cp_async16_ca(sa + s * kSubA + asw[i], ok ? a.xpc + apos[i] + ld_off : a.xpc, ok);
      }
#pragma unroll
      for (int i = 0; i < kBPer; ++i)
        if (tid + i * kThreads < BN * 4) sm90::cp_async16(sb + s * kSubB + bsw[i], kin ? a.wr + boff[i] + ld_k : a.wr, kin);
      ld_k += 32;
      ld_off += 32;
      ld_cc += 32;
      if (ld_cc == a.Cin) {
        ld_cc = 0;
        if (++ld_dw == a.kw) {
          ld_dw = 0;
          ld_off += (a.Wp - a.kw) * a.Cin;
          if (++ld_dh == a.kh) { ld_dh = 0; ld_off += (a.HpWp - a.kh * a.Wp) * a.Cin; }
        }
      }
    }
  };

  float acc[MT][BN / 2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[mt][i] = 0.f;

#pragma unroll
  for (int s = 0; s < S - 2; ++s) {
    if (s < nk) load(s);
    sm90::cp_async_commit();
  }
  for (int kt = 0; kt < nk; ++kt) {
    sm90::cp_async_wait<S - 3>();  // this thread's copies of slot kt have landed ...
    sm90::fence_proxy_async();     // ... are visible to the async proxy (wgmma) ...
    __syncthreads();               // ... and so are everyone's; every warpgroup has retired wgmma kt−2
    const int nxt = kt + S - 2;
    if (nxt < nk) load(nxt % S);
    sm90::cp_async_commit();

    const int slot = kt % S;
    const unsigned char* sa = smem + slot * kStage + wg * MT * 64 * 64;
    const unsigned char* sb = smem + slot * kStage + KS * kSubA;
    sm90::wgmma_fence();
#pragma unroll
    for (int s = 0; s < KS; ++s) {  // no branch between the wgmmas: a sub-tile past K is zeros
      const uint64_t da = sm90::desc_sw64(sa + s * kSubA), db = sm90::desc_sw64(sb + s * kSubB);
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) sm90::wgmma_bf16_m64k16(acc[mt], da + uint64_t(mt * (64 * 64 >> 4) + 2 * j), db + uint64_t(2 * j));
    }
    sm90::wgmma_commit();
    sm90::wgmma_wait<1>();
  }
  sm90::wgmma_wait<0>();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) sm90::reg_fence(acc[mt][i]);
  sm90::cp_async_wait<0>();
  // Epilogue, in two halves of the channels (the fp32 staging tile of all BN would not fit next to the
  // deepest pipelines): fragments + bias → shared [BN/2][kLdO] fp32, then each thread takes 8 consecutive
  // positions of one channel: + residual (one coalesced 16-byte load), one rounding, one 16-byte store.
  // Accumulator fragment (m64nBN, f32): warp w of the warpgroup holds rows 16w + lane/4 (+8), columns
  // 8j + 2·(lane%4) (+1) in registers 4j + {0,1} (+2 for the row below).
  float* so = reinterpret_cast<float*>(smem);
  constexpr int kLdO = C::kLdO, kHalf = BN / 2, kChunksPerRow = kRows / 8;
  const bool vec = (a.N & 7) == 0 && (reinterpret_cast<uintptr_t>(a.y) & 15) == 0 &&
                   (a.res == nullptr || (reinterpret_cast<uintptr_t>(a.res) & 15) == 0);
  // (a generic lambda per half: the accumulator indices must be compile-time constants)
  auto epilogue_half = [&](auto half_c) {
    constexpr int half = decltype(half_c)::value;
    __syncthreads();  // half 0: every slot is free; half 1: the first half's readers are done
#pragma unroll
    for (int j = half * kHalf / 8; j < (half + 1) * kHalf / 8; ++j) {
      const int c = 8 * j + 2 * (lane & 3);
      const float b0 = sbias[c], b1 = sbias[c + 1];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int r = (wg * MT + mt) * 64 + warp * 16 + (lane >> 2) + 8 * h;
          so[(c - half * kHalf) * kLdO + r] = acc[mt][4 * j + 2 * h] + b0;
          so[(c + 1 - half * kHalf) * kLdO + r] = acc[mt][4 * j + 2 * h + 1] + b1;
        }
      }
    }
    __syncthreads();
    for (int idx = tid; idx < kHalf * kChunksPerRow; idx += kThreads) {
      const int c = idx / kChunksPerRow, jj = idx - c * kChunksPerRow, n = n0 + 8 * jj;
      if (n >= a.N) continue;
      const float* src = so + c * kLdO + 8 * jj;
      const size_t off = size_t(c0 + half * kHalf + c) * size_t(a.N) + n;
      float v[8];
      *reinterpret_cast<float4*>(v) = *reinterpret_cast<const float4*>(src);
      *reinterpret_cast<float4*>(v + 4) = *reinterpret_cast<const float4*>(src + 4);
      if (vec && n + 8 <= a.N) {
        if (a.res) {
          const uint4 raw = *reinterpret_cast<const uint4*>(a.res + off);
          const bf16* rh = reinterpret_cast<const bf16*>(&raw);
#pragma unroll
          for (int e = 0; e < 8; ++e) v[e] += __bfloat162float(rh[e]);
        }
        uint4 out;
        __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
        for (int e = 0; e < 4; ++e) o[e] = __floats2bfloat162_rn(v[2 * e], v[2 * e + 1]);
        *reinterpret_cast<uint4*>(a.y + off) = out;
      } else {
        for (int e = 0; e < 8 && n + e < a.N; ++e)
          a.y[off + e] = __float2bfloat16_rn(v[e] + (a.res ? __bfloat162float(a.res[off + e]) : 0.f));
      }
    }
  };
  epilogue_half(std::integral_constant<int, 0>{});
  epilogue_half(std::integral_constant<int, 1>{});
#endif
}

template <int BN, int MT, int KS, int S>
void launch(const Args& a) {
  using C = Cfg<BN, MT, KS, S>;
  static bool attr = [] {
    TW_CUDA_CHECK(cudaFuncSetAttribute(conv_wgmma_kernel<BN, MT, KS, S>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmem));
    return true;
  }();
  (void)attr;
  const dim3 grid(unsigned(a.Cout / BN), unsigned((a.N + C::kRows - 1) / C::kRows));
  conv_wgmma_kernel<BN, MT, KS, S><<<grid, kThreads, C::kSmem, stream()>>>(a);
  TW_CUDA_CHECK_LAUNCH(conv_wgmma_kernel);
}

// TW_CONV_KERNEL=mma: the mma.sync kernel everywhere (A/B benchmarks). TW_CONV_WG: other wgmma tile shapes
// (ks1: one sub-tile per pipeline slot; ks2: never 256 × 192 / 512 × 96; m2ks2: always 256 positions ×
// 192 channels per CTA; m3/m4: always 384/512 × 96).
std::string env(const char* name) {
  const char* e = std::getenv(name);
  return e ? std::string(e) : std::string();
}

}  // namespace

bool available() {
  static const bool ok = [] {
    if (env("TW_CONV_KERNEL") == "mma") return false;
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    if (major != 9 || minor != 0) return false;
    // The kernel must come from sm_90a code (an sm_89-only build JIT-compiled for this device would
    // run the empty body).
    cudaFuncAttributes fa{};
    if (cudaFuncGetAttributes(&fa, conv_wgmma_kernel<96, 2, 1, 8>) != cudaSuccess) { (void)cudaGetLastError(); return false; }
    return fa.ptxVersion >= 90 && fa.binaryVersion >= 90;
  }();
  return ok;
}

bool run(const Args& a) {
  if (a.Cin % 32 != 0 || a.Cout % 96 != 0 || a.K % 32 != 0 || a.N <= 0 || !available()) return false;
  // Two 32-channel sub-tiles per pipeline slot (half the barriers; 10–12% faster than one on the 192/384
  // convs, H100); an odd K/32 (Cin = 96 × 27 taps) gets a zero sub-tile at the end (+1.2% MMA work).
  // TW_CONV_WG=ks1|ks2|m2ks2|m3|m4 forces other shapes (benchmarking).
  static const std::string v = env("TW_CONV_WG");
  const bool ks2 = v != "ks1";
  if (a.Cout % 192 == 0) {
    // 192-wide channel tiles, 128 positions per CTA. (256 per CTA, TW_CONV_WG=m2ks2, needs fewer operand
    // bytes per FLOP but was not reliably faster on an H100 and loses on small maps.)
    if ((a.N + 127) / 128 > 65535) return false;
    const bool m2 = v == "m2ks2";
    if (m2 && ks2) launch<192, 2, 2, 4>(a);
    else if (m2) launch<192, 2, 1, 7>(a);
    else if (ks2) launch<192, 1, 2, 5>(a);
    else launch<192, 1, 1, 8>(a);
  } else {
    // 96-wide: 512 positions per CTA (4 m64 tiles per warpgroup; 9% faster than 256 on the decoder's
    // 480×832 convs, H100) once that leaves ≥ 4 waves of CTAs, else 256.
    if ((a.N + 511) / 512 > 65535) return false;
    const bool m4 = v == "m4" || (v.empty() && a.N / 512 >= 4 * 132);  // (its slots only fit one sub-tile)
    if (v == "m3") launch<96, 3, 1, 7>(a);
    else if (m4) launch<96, 4, 1, 5>(a);
    else if (ks2) launch<96, 2, 2, 4>(a);
    else launch<96, 2, 1, 8>(a);
  }
  return true;
}

}  // namespace tw::cuda::convwg
