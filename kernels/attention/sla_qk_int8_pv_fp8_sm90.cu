// SageSLA sparse branch: quantization pre-pass + int8/fp8 block-sparse flash attention.
//
// Quantization (as SpargeAttn, and the CPU reference in sparse_linear_attention.cpp):
//   q: int8 per (head, 64 tokens), s = max|q|/127 + 1e-7, q8 = trunc(q/s ± 0.5);
//   k: int8 per (head, 128 tokens) of k − mean_L(k), same rule;
//   v: e4m3(v · 2.25/amax_c) per (head, channel), v_scale = amax_c/2.25, stored transposed
//      [H, 128, Lpad] with each 16-key group permuted so a thread's fp32 P accumulator fragment is
//      directly an fp8 A fragment of the P·V MMA (no shuffles).
// Kernel: CTA = 64 queries × 4 warps; key tiles of 128 (one selected block) double-buffered via
// cp.async; logits = int32 dot · (q_s·k_s·scale·log2e); online softmax with exp2 and the +8.807
// offset that maps the row max to 448 (e4m3 max); l sums the fp32 P; P·V in e4m3 with fp32
// accumulation; O = acc / l · v_scale[c] → bf16.
#include <cuda_fp8.h>

#include <cstdlib>
#include <string>

#include "sla_qk_int8_pv_fp8_sm90.h"
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"

namespace tw::cuda::sagesla {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kD = 128, kBM = 64, kBN = 128, kThreads = 128;
constexpr int kQBytes = kBM * kD, kKBytes = kBN * kD, kVBytes = kD * kBN;
constexpr int kSmemBytes = kQBytes + 2 * (kKBytes + kVBytes);  // 72 KiB

int64_t padded(int64_t L) { return (L + 127) / 128 * 128; }

// ---------------------------------------------------------------- pre-pass

// Column sums (over L) of x[L, H, 128] into out[H, 128] (zeroed before), chunks of 256 rows.
__global__ void colsum_kernel(const bf16* __restrict__ x, int64_t L, int heads, float* __restrict__ out) {
  const int h = blockIdx.y, c = threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.x) * 256, r1 = min(L, r0 + 256);
  float s = 0.f;
  for (int64_t r = r0; r < r1; ++r) s += __bfloat162float(x[(r * heads + h) * kD + c]);
  atomicAdd(out + h * kD + c, s);
}

// Per-channel max |v| over L into amax[H, 128] (as float bits; zeroed before; values ≥ 0 order like ints).
__global__ void colamax_kernel(const bf16* __restrict__ x, int64_t L, int heads, unsigned* __restrict__ amax) {
  const int h = blockIdx.y, c = threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.x) * 256, r1 = min(L, r0 + 256);
  float m = 0.f;
  for (int64_t r = r0; r < r1; ++r) m = fmaxf(m, fabsf(__bfloat162float(x[(r * heads + h) * kD + c])));
  atomicMax(amax + h * kD + c, __float_as_uint(m));
}

// int8 per (head, block of `blk` rows) of x − colsum/L (colsum null: no subtraction).
__global__ void quant_block_kernel(const bf16* __restrict__ x, int64_t L, int heads, int blk, const float* __restrict__ colsum,
                                   int8_t* __restrict__ out, float* __restrict__ scale) {
  __shared__ float red[32];
  const int b = blockIdx.x, h = blockIdx.y, c = threadIdx.x, nb = gridDim.x;
  const int64_t r0 = int64_t(b) * blk, r1 = min(L, r0 + blk);
  const float sub = colsum ? colsum[h * kD + c] / float(L) : 0.f;
  float m = 0.f;
  for (int64_t r = r0; r < r1; ++r) m = fmaxf(m, fabsf(__bfloat162float(x[(r * heads + h) * kD + c]) - sub));
  m = warp_max(m);
  if ((c & 31) == 0) red[c >> 5] = m;
  __syncthreads();
  const float amax = fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));
  const float s = amax / 127.0f + 1e-7f;
  if (c == 0) scale[int64_t(h) * nb + b] = s;
  for (int64_t r = r0; r < r1; ++r) {
    float t = (__bfloat162float(x[(r * heads + h) * kD + c]) - sub) / s;
    t += t >= 0.f ? 0.5f : -0.5f;
    out[(r * heads + h) * kD + c] = int8_t(truncf(t));
  }
}

// Logical column of physical key p within a 16-key group (see the header comment).
__device__ __forceinline__ int perm16(int p) { return 4 * ((p & 7) >> 1) + (p & 1) + ((p >> 3) << 1); }

// v → e4m3, transposed to vt[h, c, Lpad] with permuted 16-key groups; one CTA per 64 keys of a head.
__global__ void quant_v_kernel(const bf16* __restrict__ v, int64_t L, int heads, int64_t Lpad, const unsigned* __restrict__ amax,
                               __nv_fp8_storage_t* __restrict__ vt, float* __restrict__ v_scale) {
  __shared__ __nv_fp8_storage_t tile[kD][64 + 4];
  const int h = blockIdx.y, tid = threadIdx.x;
  const int64_t key0 = int64_t(blockIdx.x) * 64;
  for (int i = tid; i < 64 * kD; i += blockDim.x) {
    const int kr = i / kD, c = i % kD;
    const int64_t key = key0 + kr;
    const float am = __uint_as_float(amax[h * kD + c]);
    const float recp = am > 0.f ? 2.25f / am : 0.f;
    const float x = key < L ? __bfloat162float(v[(key * heads + h) * kD + c]) : 0.f;
    tile[c][perm16(kr & 15) + (kr & ~15)] = __nv_cvt_float_to_fp8(x * recp, __NV_SATFINITE, __NV_E4M3);
  }
  if (blockIdx.x == 0 && tid < kD) v_scale[h * kD + tid] = __uint_as_float(amax[h * kD + tid]) / 2.25f;
  __syncthreads();
  for (int i = tid; i < kD * 16; i += blockDim.x) {  // 16 words of 4 bytes per channel row
    const int c = i / 16, w = i % 16;
    uint32_t word = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) word |= uint32_t(tile[c][w * 4 + j]) << (8 * j);
    *reinterpret_cast<uint32_t*>(vt + (int64_t(h) * kD + c) * Lpad + key0 + w * 4) = word;
  }
}

// ---------------------------------------------------------------- attention kernel

struct Args {
  const int8_t* q8;
  const int8_t* k8;
  const __nv_fp8_storage_t* vt;
  const float* q_scale;  // [H, QB]
  const float* k_scale;  // [H, KB]
  const float* v_scale;  // [H, 128]
  const int32_t* lut;    // [H, QB, n_sel]
  bf16* o;
  const float* bias;  // [128] added to every output row, or null
  int64_t L, Lpad, QB, KB;
  int heads, n_sel;
  float sm_base;  // scale · log2(e)
};

__device__ __forceinline__ int swz(int row, int chunk) { return row * kD + ((chunk ^ (row & 7)) << 4); }  // bytes

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
__device__ __forceinline__ void ldsm_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, const void* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(s));
}
__device__ __forceinline__ void mma_s8(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_e4m3(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_e4m3(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

template <int kMinBlocks>
__global__ void __launch_bounds__(kThreads, kMinBlocks) sagesla_fwd_kernel(const Args a) {
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* sQ = smem;
  unsigned char* sK = smem + kQBytes;               // 2 stages
  unsigned char* sV = sK + 2 * kKBytes;             // 2 stages, [dim][key]
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int64_t qb = blockIdx.x, m0 = qb * kBM;
  const int h = blockIdx.y;
  const int32_t* lut = a.lut + (int64_t(h) * a.QB + qb) * a.n_sel;
  const int64_t ld = int64_t(a.heads) * kD;

  auto load_q = [&]() {
#pragma unroll
    for (int i = 0; i < kBM * 8 / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx >> 3, c = idx & 7;
      const int64_t row = m0 + r;
      const bool ok = row < a.L;
      cp_async16(sQ + swz(r, c), a.q8 + (ok ? row : 0) * ld + h * kD + c * 16, ok);
    }
  };
  auto load_kv = [&](int t, int stage) {
    const int64_t key0 = int64_t(lut[t]) * kBN;
    unsigned char* k = sK + stage * kKBytes;
    unsigned char* v = sV + stage * kVBytes;
#pragma unroll
    for (int i = 0; i < kBN * 8 / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx >> 3, c = idx & 7;
      const int64_t row = key0 + r;
      const bool ok = row < a.L;
      cp_async16(k + swz(r, c), a.k8 + (ok ? row : 0) * ld + h * kD + c * 16, ok);
      cp_async16(v + swz(r, c), a.vt + (int64_t(h) * kD + r) * a.Lpad + key0 + c * 16, true);
    }
  };

  load_q();
  cp_async_commit();
  load_kv(0, 0);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  uint32_t qf[4][4];
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
    ldsm_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], sQ + swz(warp * 16 + (lane & 15), kk * 2 + (lane >> 4)));
  const float q_s = a.q_scale[int64_t(h) * a.QB + qb] * a.sm_base;

  float acc[16][4];
#pragma unroll
  for (int j = 0; j < 16; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};

  for (int t = 0; t < a.n_sel; ++t) {
    const int stage = t & 1;
    if (t + 1 < a.n_sel) load_kv(t + 1, stage ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const unsigned char* cK = sK + stage * kKBytes;
    const unsigned char* cV = sV + stage * kVBytes;
    const int64_t blk = lut[t];
    const float dq = q_s * a.k_scale[int64_t(h) * a.KB + blk];

    // The 128-key tile is processed as two halves of 64 keys (keeps S at 32 registers).
#pragma unroll 1
    for (int half = 0; half < 2; ++half) {
      float s[8][4];
      {
        int si[8][4];
#pragma unroll
        for (int j = 0; j < 8; ++j) si[j][0] = si[j][1] = si[j][2] = si[j][3] = 0;
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
          for (int jp = 0; jp < 4; ++jp) {
            uint32_t b0, b1, b2, b3;
            ldsm_x4(b0, b1, b2, b3, cK + swz(half * 64 + jp * 16 + ((lane >> 4) << 3) + (lane & 7), kk * 2 + ((lane >> 3) & 1)));
            mma_s8(si[2 * jp], qf[kk], b0, b1);
            mma_s8(si[2 * jp + 1], qf[kk], b2, b3);
          }
        }
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e)  // exact int32 → fp32 for |x| < 2²² (|q8·k8| ≤ 128·128·127) without I2F
            s[j][e] = (__int_as_float(si[j][e] + 0x4B400000) - 12582912.0f) * dq;
      }
      const int64_t key0 = blk * kBN + half * 64;
      if (key0 + 64 > a.L) {
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            if (key0 + j * 8 + 2 * (lane & 3) + (e & 1) >= a.L) s[j][e] = -INFINITY;
      }
      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        mx[0] = fmaxf(mx[0], fmaxf(s[j][0], s[j][1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[j][2], s[j][3]));
      }
      float alpha[2], neg_m[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float m_new = fmaxf(m_run[r], mx[r]);
        const float m_use = m_new == -INFINITY ? 0.f : m_new;
        alpha[r] = exp2f(m_run[r] - m_use);
        m_run[r] = m_new;
        neg_m[r] = 8.807f - m_use;
      }
      float rs[2] = {0.f, 0.f};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        s[j][0] = exp2f(s[j][0] + neg_m[0]);
        s[j][1] = exp2f(s[j][1] + neg_m[0]);
        s[j][2] = exp2f(s[j][2] + neg_m[1]);
        s[j][3] = exp2f(s[j][3] + neg_m[1]);
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
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) {  // 32 keys per step: S tiles 4kk .. 4kk+3
        uint32_t pa[4];
        pa[0] = pack_e4m3(s[4 * kk][0], s[4 * kk][1], s[4 * kk + 1][0], s[4 * kk + 1][1]);
        pa[1] = pack_e4m3(s[4 * kk][2], s[4 * kk][3], s[4 * kk + 1][2], s[4 * kk + 1][3]);
        pa[2] = pack_e4m3(s[4 * kk + 2][0], s[4 * kk + 2][1], s[4 * kk + 3][0], s[4 * kk + 3][1]);
        pa[3] = pack_e4m3(s[4 * kk + 2][2], s[4 * kk + 2][3], s[4 * kk + 3][2], s[4 * kk + 3][3]);
#pragma unroll
        for (int jd = 0; jd < 8; ++jd) {
          uint32_t b0, b1, b2, b3;
          ldsm_x4(b0, b1, b2, b3, cV + swz(jd * 16 + ((lane >> 4) << 3) + (lane & 7), half * 4 + kk * 2 + ((lane >> 3) & 1)));
          mma_e4m3(acc[2 * jd], pa, b0, b1);
          mma_e4m3(acc[2 * jd + 1], pa, b2, b3);
        }
      }
    }
    __syncthreads();
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
  const float* vs = a.v_scale + h * kD;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int col = j * 8 + 2 * (lane & 3);
    const float v0 = vs[col], v1 = vs[col + 1];
    const float b0 = a.bias ? a.bias[col] : 0.f, b1 = a.bias ? a.bias[col + 1] : 0.f;
    if (row0 < a.L)
      *reinterpret_cast<__nv_bfloat162*>(a.o + row0 * ld + h * kD + col) =
          __floats2bfloat162_rn(fmaf(acc[j][0] * inv0, v0, b0), fmaf(acc[j][1] * inv0, v1, b1));
    if (row1 < a.L)
      *reinterpret_cast<__nv_bfloat162*>(a.o + row1 * ld + h * kD + col) =
          __floats2bfloat162_rn(fmaf(acc[j][2] * inv1, v0, b0), fmaf(acc[j][3] * inv1, v1, b1));
  }
}


// ---------------------------------------------------------------- wgmma variant (sm_90a)
// Same math and the same shared-memory tiles as sagesla_fwd_kernel: rows of 128 bytes with the
// 16-byte chunk XOR (row & 7) pattern are exactly the 128B-swizzled K-major layout wgmma reads, so
// one warpgroup (the CTA) issues S = Q·Kᵀ as 4 × m64n128k32 s8 (both operands from shared memory)
// and O += P·V as 4 × m64n128k32 e4m3 with P from registers (the fragment layout equals mma.sync's).

__device__ __forceinline__ void wgmma_s8_m64n128k32(int (&d)[64], uint64_t da, uint64_t db, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
      : "l"(da), "l"(db), "r"(accumulate));
}

__device__ __forceinline__ void wgmma_e4m3_m64n128k32(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}


__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void reg_fence(int& r) { asm volatile("" : "+r"(r)::"memory"); }
__device__ __forceinline__ void reg_fence(float& r) { asm volatile("" : "+f"(r)::"memory"); }

// Shared-memory matrix descriptor: K-major, 128B swizzle, 8-row groups 1024 bytes apart.
__device__ __forceinline__ uint64_t desc_sw128(const void* p) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  uint64_t d = uint64_t((addr & 0x3FFFF) >> 4);
  d |= uint64_t(1) << 16;            // leading byte offset (unused for swizzled K-major)
  d |= uint64_t(1024 >> 4) << 32;    // stride byte offset
  d |= uint64_t(1) << 62;            // 128-byte swizzle
  return d;
}

constexpr int kSmemBytesW = kQBytes + 2 * (kKBytes + kVBytes) + 1024;

__global__ void __launch_bounds__(kThreads, 1) sagesla_wgmma_kernel(const Args a) {
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  unsigned char* sQ = smem;
  unsigned char* sK = smem + kQBytes;
  unsigned char* sV = sK + 2 * kKBytes;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int64_t qb = blockIdx.x, m0 = qb * kBM;
  const int h = blockIdx.y;
  const int32_t* lut = a.lut + (int64_t(h) * a.QB + qb) * a.n_sel;
  const int64_t ld = int64_t(a.heads) * kD;

  auto load_q = [&]() {
#pragma unroll
    for (int i = 0; i < kBM * 8 / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx >> 3, c = idx & 7;
      const int64_t row = m0 + r;
      const bool ok = row < a.L;
      cp_async16(sQ + swz(r, c), a.q8 + (ok ? row : 0) * ld + h * kD + c * 16, ok);
    }
  };
  auto load_kv = [&](int t, int stage) {
    const int64_t key0 = int64_t(lut[t]) * kBN;
    unsigned char* k = sK + stage * kKBytes;
    unsigned char* v = sV + stage * kVBytes;
#pragma unroll
    for (int i = 0; i < kBN * 8 / kThreads; ++i) {
      const int idx = tid + i * kThreads, r = idx >> 3, c = idx & 7;
      const int64_t row = key0 + r;
      const bool ok = row < a.L;
      cp_async16(k + swz(r, c), a.k8 + (ok ? row : 0) * ld + h * kD + c * 16, ok);
      cp_async16(v + swz(r, c), a.vt + (int64_t(h) * kD + r) * a.Lpad + key0 + c * 16, true);
    }
  };

  load_q();
  load_kv(0, 0);
  cp_async_commit();
  const uint64_t dQ = desc_sw128(sQ);
  const float q_s = a.q_scale[int64_t(h) * a.QB + qb] * a.sm_base;

  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};

  for (int t = 0; t < a.n_sel; ++t) {
    const int stage = t & 1;
    if (t + 1 < a.n_sel) load_kv(t + 1, stage ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    fence_proxy_async();
    __syncthreads();
    const int64_t blk = lut[t];
    const float dq = q_s * a.k_scale[int64_t(h) * a.KB + blk];
    const uint64_t dK = desc_sw128(sK + stage * kKBytes), dV = desc_sw128(sV + stage * kVBytes);

    int si[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) si[i] = 0;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wgmma_s8_m64n128k32(si, dQ + 2 * kk, dK + 2 * kk, 1);
    wgmma_commit();
    wgmma_wait0();
#pragma unroll
    for (int i = 0; i < 64; ++i) reg_fence(si[i]);

    float s[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) s[i] = (__int_as_float(si[i] + 0x4B400000) - 12582912.0f) * dq;
    const int64_t key0 = blk * kBN;
    if (key0 + kBN > a.L) {
#pragma unroll
      for (int i = 0; i < 64; ++i)
        if (key0 + (i >> 2) * 8 + 2 * (lane & 3) + (i & 1) >= a.L) s[i] = -INFINITY;
    }
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      mx[0] = fmaxf(mx[0], fmaxf(s[4 * j], s[4 * j + 1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[4 * j + 2], s[4 * j + 3]));
    }
    float alpha[2], neg_m[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m_run[r], mx[r]);
      const float m_use = m_new == -INFINITY ? 0.f : m_new;
      alpha[r] = exp2f(m_run[r] - m_use);
      m_run[r] = m_new;
      neg_m[r] = 8.807f - m_use;
    }
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      s[4 * j] = exp2f(s[4 * j] + neg_m[0]);
      s[4 * j + 1] = exp2f(s[4 * j + 1] + neg_m[0]);
      s[4 * j + 2] = exp2f(s[4 * j + 2] + neg_m[1]);
      s[4 * j + 3] = exp2f(s[4 * j + 3] + neg_m[1]);
      rs[0] += s[4 * j] + s[4 * j + 1];
      rs[1] += s[4 * j + 2] + s[4 * j + 3];
    }
    l_run[0] = l_run[0] * alpha[0] + rs[0];
    l_run[1] = l_run[1] * alpha[1] + rs[1];
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      acc[4 * j] *= alpha[0]; acc[4 * j + 1] *= alpha[0];
      acc[4 * j + 2] *= alpha[1]; acc[4 * j + 3] *= alpha[1];
    }
    uint32_t pa[4][4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {  // keys 32kk..32kk+31 = S tiles 4kk .. 4kk+3
      const float* s0 = s + 16 * kk;
      pa[kk][0] = pack_e4m3(s0[0], s0[1], s0[4], s0[5]);
      pa[kk][1] = pack_e4m3(s0[2], s0[3], s0[6], s0[7]);
      pa[kk][2] = pack_e4m3(s0[8], s0[9], s0[12], s0[13]);
      pa[kk][3] = pack_e4m3(s0[10], s0[11], s0[14], s0[15]);
    }
    wgmma_fence();
#pragma unroll
    for (int i = 0; i < 64; ++i) reg_fence(acc[i]);
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wgmma_e4m3_m64n128k32(acc, pa[kk], dV + 2 * kk);
    wgmma_commit();
    wgmma_wait0();
#pragma unroll
    for (int i = 0; i < 64; ++i) reg_fence(acc[i]);
    __syncthreads();
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
  const float* vs = a.v_scale + h * kD;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const int col = j * 8 + 2 * (lane & 3);
    const float v0 = vs[col], v1 = vs[col + 1];
    const float b0 = a.bias ? a.bias[col] : 0.f, b1 = a.bias ? a.bias[col + 1] : 0.f;
    if (row0 < a.L)
      *reinterpret_cast<__nv_bfloat162*>(a.o + row0 * ld + h * kD + col) =
          __floats2bfloat162_rn(fmaf(acc[4 * j] * inv0, v0, b0), fmaf(acc[4 * j + 1] * inv0, v1, b1));
    if (row1 < a.L)
      *reinterpret_cast<__nv_bfloat162*>(a.o + row1 * ld + h * kD + col) =
          __floats2bfloat162_rn(fmaf(acc[4 * j + 2] * inv1, v0, b0), fmaf(acc[4 * j + 3] * inv1, v1, b1));
  }
}

struct Layout {
  size_t q8, k8, vt, qs, ks, vs, ksum, vmax, total;
  Layout(int64_t L, int64_t H) {
    ScratchPlan p;
    const int64_t QB = (L + 63) / 64, KB = (L + 127) / 128;
    q8 = p.add(size_t(L * H * kD));
    k8 = p.add(size_t(L * H * kD));
    vt = p.add(size_t(H * kD * padded(L)));
    qs = p.add(size_t(H * QB) * 4);
    ks = p.add(size_t(H * KB) * 4);
    vs = p.add(size_t(H * kD) * 4);
    ksum = p.add(size_t(H * kD) * 4);
    vmax = p.add(size_t(H * kD) * 4);
    total = p.total();
  }
};

}  // namespace

size_t scratch_bytes(int64_t L, int64_t H) { return Layout(L, H).total; }

void sparse_branch(const bf16* q, const bf16* k, const bf16* v, int64_t L, int64_t H, const int32_t* lut, int n_sel, float scale,
                   const float* bias, bf16* o_s, void* scratch, cudaStream_t s) {
  const Layout lay(L, H);
  char* base = static_cast<char*>(scratch);
  int8_t* q8 = reinterpret_cast<int8_t*>(base + lay.q8);
  int8_t* k8 = reinterpret_cast<int8_t*>(base + lay.k8);
  auto* vt = reinterpret_cast<__nv_fp8_storage_t*>(base + lay.vt);
  float* qs = reinterpret_cast<float*>(base + lay.qs);
  float* ks = reinterpret_cast<float*>(base + lay.ks);
  float* vs = reinterpret_cast<float*>(base + lay.vs);
  float* ksum = reinterpret_cast<float*>(base + lay.ksum);
  unsigned* vmax = reinterpret_cast<unsigned*>(base + lay.vmax);
  const int64_t QB = (L + 63) / 64, KB = (L + 127) / 128, Lpad = padded(L);
  const dim3 chunks(unsigned((L + 255) / 256), unsigned(H));

  TW_CUDA_CHECK(cudaMemsetAsync(ksum, 0, size_t(H * kD) * 4, s));
  TW_CUDA_CHECK(cudaMemsetAsync(vmax, 0, size_t(H * kD) * 4, s));
  colsum_kernel<<<chunks, kD, 0, s>>>(k, L, int(H), ksum);
  TW_CUDA_CHECK_LAUNCH(colsum_kernel);
  colamax_kernel<<<chunks, kD, 0, s>>>(v, L, int(H), vmax);
  TW_CUDA_CHECK_LAUNCH(colamax_kernel);
  quant_block_kernel<<<dim3(unsigned(QB), unsigned(H)), kD, 0, s>>>(q, L, int(H), 64, nullptr, q8, qs);
  TW_CUDA_CHECK_LAUNCH(quant_block_kernel);
  quant_block_kernel<<<dim3(unsigned(KB), unsigned(H)), kD, 0, s>>>(k, L, int(H), 128, ksum, k8, ks);
  TW_CUDA_CHECK_LAUNCH(quant_block_kernel);
  quant_v_kernel<<<dim3(unsigned(Lpad / 64), unsigned(H)), 256, 0, s>>>(v, L, int(H), Lpad, vmax, vt, vs);
  TW_CUDA_CHECK_LAUNCH(quant_v_kernel);

  Args a;
  a.q8 = q8; a.k8 = k8; a.vt = vt; a.q_scale = qs; a.k_scale = ks; a.v_scale = vs; a.lut = lut; a.o = o_s; a.bias = bias;
  a.L = L; a.Lpad = Lpad; a.QB = QB; a.KB = KB; a.heads = int(H); a.n_sel = n_sel;
  a.sm_base = scale * 1.44269504088896340736f;
  static bool attr = [] {
    TW_CUDA_CHECK(cudaFuncSetAttribute(sagesla_fwd_kernel<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    TW_CUDA_CHECK(cudaFuncSetAttribute(sagesla_fwd_kernel<3>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    return true;
  }();
  (void)attr;
  // Default: the warpgroup-MMA kernel (1.6-1.8× the mma.sync one on H100). TW_SAGESLA_KERNEL=mma
  // picks the mma.sync kernel, TW_ATTN_MINBLOCKS=2|3 its register budget (benchmarking).
  static const bool wgmma = [] { const char* e = std::getenv("TW_SAGESLA_KERNEL"); return !(e && std::string(e) == "mma"); }();
  static const bool mb3 = [] { const char* e = std::getenv("TW_ATTN_MINBLOCKS"); return e && std::atoi(e) == 3; }();
  if (wgmma) {
    static bool attr_w = [] {
      TW_CUDA_CHECK(cudaFuncSetAttribute(sagesla_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytesW));
      return true;
    }();
    (void)attr_w;
    sagesla_wgmma_kernel<<<dim3(unsigned(QB), unsigned(H)), kThreads, kSmemBytesW, s>>>(a);
  } else if (mb3) sagesla_fwd_kernel<3><<<dim3(unsigned(QB), unsigned(H)), kThreads, kSmemBytes, s>>>(a);
  else sagesla_fwd_kernel<2><<<dim3(unsigned(QB), unsigned(H)), kThreads, kSmemBytes, s>>>(a);
  TW_CUDA_CHECK_LAUNCH(sagesla_fwd_kernel);
}

}  // namespace tw::cuda::sagesla
