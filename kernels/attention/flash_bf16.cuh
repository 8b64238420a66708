// Flash attention forward for head dim 128, bf16 in/out, on tensor cores through mma.sync m16n8k16
// (sm_80+; also the portable path on sm_90). One CTA = 64 queries of one head, 4 warps × 16 rows;
// keys stream through shared memory in tiles of 64 (double-buffered cp.async, XOR-swizzled rows so
// ldmatrix is conflict-free). fp32 online softmax with exp2; P is rounded to bf16 for the P·V MMA
// (as FlashAttention and SLA's Triton kernel do); fp32 accumulation; one bf16 rounding at the end.
//
// Dense: every key tile. Sparse (SLA): the key tiles of the selected key blocks listed in `lut`
// [heads, q_blocks, n_sel] (ascending block indices), block sizes multiples of 64.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tw::cuda::flash {

constexpr int kD = 128, kBM = 64, kBN = 64, kThreads = 128;
constexpr int kTileElems = 64 * kD;
constexpr int kSmemBytes = 4 * kTileElems * 2;  // 2 stages of K and V (Q is staged in stage 1's K): 64 KiB

struct Args {
  const __nv_bfloat16* q;
  const __nv_bfloat16* k;
  const __nv_bfloat16* v;
  __nv_bfloat16* o;
  int64_t Lq = 0, Lk = 0;
  int heads = 0;
  float scale_log2 = 0.f;  // softmax scale · log2(e)
  const float* bias = nullptr;  // [128] added to every output row (SLA folds proj_l's bias here), or null
  // sparse only
  const int32_t* lut = nullptr;
  int n_sel = 0, blk_q = 64, blk_k = 64;
  int64_t q_blocks = 0;
};

__device__ __forceinline__ int swz(int row, int chunk) { return row * kD + ((chunk ^ (row & 7)) << 3); }

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldsm_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, const void* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(s));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, const void* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(s));
}
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo (lower 16 bits)
  return *reinterpret_cast<uint32_t*>(&v);
}

// Copies rows [row0, row0+64) of head h of a [L, heads, 128] tensor into a swizzled smem tile;
// rows ≥ L are zero-filled.
__device__ __forceinline__ void load_tile(__nv_bfloat16* dst, const __nv_bfloat16* src, int64_t row0, int64_t L,
                                          int heads, int h) {
  const int tid = threadIdx.x;
#pragma unroll
  for (int i = 0; i < (64 * 16) / kThreads; ++i) {
    const int idx = tid + i * kThreads;
    const int r = idx >> 4, c = idx & 15;
    const int64_t row = row0 + r;
    const bool valid = row < L;
    const __nv_bfloat16* g = src + ((valid ? row : 0) * heads + h) * int64_t(kD) + c * 8;
    cp_async16(dst + swz(r, c), g, valid);
  }
}

// kMinBlocks: CTAs per SM the register allocation must allow (2 → ≤ 255 registers, 3 → ≤ 168).
template <bool kSparse, int kMinBlocks>
__global__ void __launch_bounds__(kThreads, kMinBlocks) flash_fwd_kernel(const Args a) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  __nv_bfloat16* sK = reinterpret_cast<__nv_bfloat16*>(smem_raw);  // 2 stages
  __nv_bfloat16* sV = sK + 2 * kTileElems;                          // 2 stages
  __nv_bfloat16* sQ = sK + kTileElems;  // stage 1 of K until the Q fragments are in registers

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int64_t m0 = int64_t(blockIdx.x) * kBM;
  const int h = blockIdx.y;

  int n_tiles, tiles_per_blk = 1;
  const int32_t* lut_row = nullptr;
  if constexpr (kSparse) {
    tiles_per_blk = a.blk_k / kBN;
    const int64_t qb = m0 / a.blk_q;
    lut_row = a.lut + (int64_t(h) * a.q_blocks + qb) * a.n_sel;
    n_tiles = a.n_sel * tiles_per_blk;
  } else {
    n_tiles = int((a.Lk + kBN - 1) / kBN);
  }
  auto tile_key0 = [&](int t) -> int64_t {
    if constexpr (kSparse) return int64_t(lut_row[t / tiles_per_blk]) * a.blk_k + (t % tiles_per_blk) * kBN;
    else return int64_t(t) * kBN;
  };

  load_tile(sQ, a.q, m0, a.Lq, a.heads, h);
  cp_async_commit();
  if (n_tiles > 0) {
    const int64_t k0 = tile_key0(0);
    load_tile(sK, a.k, k0, a.Lk, a.heads, h);
    load_tile(sV, a.v, k0, a.Lk, a.heads, h);
  }
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();

  uint32_t qf[8][4];
#pragma unroll
  for (int kk = 0; kk < 8; ++kk)
    ldsm_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], sQ + swz(warp * 16 + (lane & 15), kk * 2 + (lane >> 4)));
  __syncthreads();  // stage 1 is refilled by the first prefetch

  float acc[16][4];
#pragma unroll
  for (int j = 0; j < 16; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};

  for (int t = 0; t < n_tiles; ++t) {
    const int stage = t & 1;
    if (t + 1 < n_tiles) {
      const int64_t k1 = tile_key0(t + 1);
      load_tile(sK + (stage ^ 1) * kTileElems, a.k, k1, a.Lk, a.heads, h);
      load_tile(sV + (stage ^ 1) * kTileElems, a.v, k1, a.Lk, a.heads, h);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const __nv_bfloat16* cK = sK + stage * kTileElems;
    const __nv_bfloat16* cV = sV + stage * kTileElems;

    // S = Q·Kᵀ for this warp's 16 rows × 64 keys.
    float s[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) {
#pragma unroll
      for (int jp = 0; jp < 4; ++jp) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4(b0, b1, b2, b3, cK + swz(jp * 16 + ((lane >> 4) << 3) + (lane & 7), kk * 2 + ((lane >> 3) & 1)));
        mma_bf16(s[2 * jp], qf[kk], b0, b1);
        mma_bf16(s[2 * jp + 1], qf[kk], b2, b3);
      }
    }
    const int64_t key0 = tile_key0(t);
    if (key0 + kBN > a.Lk) {
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (key0 + j * 8 + 2 * (lane & 3) + (e & 1) >= a.Lk) s[j][e] = -INFINITY;
    }

    // Online softmax (rows r = lane/4 and r + 8; a quad of lanes shares a row).
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      mx[0] = fmaxf(mx[0], fmaxf(s[j][0], s[j][1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[j][2], s[j][3]));
    }
    float alpha[2], m_use[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m_run[r], mx[r] * a.scale_log2);
      m_use[r] = m_new == -INFINITY ? 0.f : m_new;
      alpha[r] = exp2f(m_run[r] - m_use[r]);
      m_run[r] = m_new;
    }
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      s[j][0] = exp2f(fmaf(s[j][0], a.scale_log2, -m_use[0]));
      s[j][1] = exp2f(fmaf(s[j][1], a.scale_log2, -m_use[0]));
      s[j][2] = exp2f(fmaf(s[j][2], a.scale_log2, -m_use[1]));
      s[j][3] = exp2f(fmaf(s[j][3], a.scale_log2, -m_use[1]));
      rs[0] += s[j][0] + s[j][1];
      rs[1] += s[j][2] + s[j][3];
    }
    l_run[0] = l_run[0] * alpha[0] + rs[0];
    l_run[1] = l_run[1] * alpha[1] + rs[1];
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      acc[j][0] *= alpha[0]; acc[j][1] *= alpha[0];
      acc[j][2] *= alpha[1]; acc[j][3] *= alpha[1];
    }

    // O += P·V.
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      uint32_t pa[4];
      pa[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
      pa[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
      pa[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int jd = 0; jd < 8; ++jd) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4_t(b0, b1, b2, b3, cV + swz(kk * 16 + (((lane >> 3) & 1) << 3) + (lane & 7), jd * 2 + (lane >> 4)));
        mma_bf16(acc[2 * jd], pa, b0, b1);
        mma_bf16(acc[2 * jd + 1], pa, b2, b3);
      }
    }
    __syncthreads();  // this stage is refilled by the next iteration's prefetch
  }
  cp_async_wait<0>();

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
  }
  const float inv0 = l_run[0] > 0.f ? 1.f / l_run[0] : 0.f;
  const float inv1 = l_run[1] > 0.f ? 1.f / l_run[1] : 0.f;
  const int64_t row0 = m0 + warp * 16 + (lane >> 2), row1 = row0 + 8;
  const int64_t ld = int64_t(a.heads) * kD;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int col = j * 8 + 2 * (lane & 3);
    const float b0 = a.bias ? a.bias[col] : 0.f, b1 = a.bias ? a.bias[col + 1] : 0.f;
    if (row0 < a.Lq)
      *reinterpret_cast<__nv_bfloat162*>(a.o + row0 * ld + h * kD + col) = __floats2bfloat162_rn(fmaf(acc[j][0], inv0, b0), fmaf(acc[j][1], inv0, b1));
    if (row1 < a.Lq)
      *reinterpret_cast<__nv_bfloat162*>(a.o + row1 * ld + h * kD + col) = __floats2bfloat162_rn(fmaf(acc[j][2], inv1, b0), fmaf(acc[j][3], inv1, b1));
  }
}

// Launches on `stream`; throws tw::Error on a bad launch.
void launch_flash_fwd(const Args& a, bool sparse, cudaStream_t stream);

}  // namespace tw::cuda::flash
