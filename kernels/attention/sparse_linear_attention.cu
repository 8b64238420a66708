// SLA and SageSLA on CUDA (facts §4): block selection, block-sparse flash attention over the selected key
// blocks, the linear branch and o = o_s + proj_l(o_l). q/k/v/o [L, heads, 128] bf16; proj_w/proj_b
// any float dtype (rounded to bf16 once). Selection runs in fp32 like the CPU reference (pooled
// means, smooth-K as "block mean − mean over L", fp32 scores, ties → lower block index first).
// Pipeline (9 launches): pool q, pool k, smooth k, select (score + bitonic top-k + ascending
// compaction), sparse flash (o_s), φ = softmax over d for q and k, Σφ(k), KV = φ(k)ᵀv and
// φ(q)·KV through batched cuBLAS, normalize, proj_l GEMM with o_s fused as the C operand.
// quantized=true (SageSLA, SM90 blocks 64/128) swaps the sparse branch for the int8 Q·K / fp8 P·V
// kernel of sla_qk_int8_pv_fp8_sm90.cu; everything else is shared.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../linear/gemm_lt.h"
#include "flash_bf16.cuh"
#include "sla_qk_int8_pv_fp8_sm90.h"
#include "tw/cuda/cublas.h"
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kD = 128;

// out[h, b, c] = mean over the rows of block b of x[r, h, c] (fp32).
__global__ void pool_kernel(const bf16* __restrict__ x, int64_t L, int heads, int blk, float* __restrict__ out) {
  const int b = blockIdx.x, h = blockIdx.y, c = threadIdx.x;
  const int64_t r0 = int64_t(b) * blk, r1 = min(L, r0 + blk);
  float s = 0.f;
  for (int64_t r = r0; r < r1; ++r) s += __bfloat162float(x[(r * heads + h) * kD + c]);
  out[(int64_t(h) * gridDim.x + b) * kD + c] = s / float(r1 - r0);
}

// Smooth-K on the pooled blocks: pk[h, b, :] −= mean over L of k[:, h, :] (= Σ_b count_b·pk[b] / L).
__global__ void smooth_k_kernel(float* __restrict__ pk, int nb, int64_t L, int blk) {
  const int h = blockIdx.x, c = threadIdx.x;
  float* p = pk + int64_t(h) * nb * kD + c;
  double s = 0.0;
  for (int b = 0; b < nb; ++b) s += double(p[int64_t(b) * kD]) * double(min(int64_t(blk), L - int64_t(b) * blk));
  const float km = float(s / double(L));
  for (int b = 0; b < nb; ++b) p[int64_t(b) * kD] -= km;
}

__device__ __forceinline__ bool before(float sa, int ia, float sb, int ib) { return sa > sb || (sa == sb && ia < ib); }

// One CTA per (q block, head): scores against every key block, bitonic sort (score desc, index asc),
// the first n_sel are written to lut in ascending block order.
__global__ void select_kernel(const float* __restrict__ pq, const float* __restrict__ pk, int QB, int KB, int np2,
                              int n_sel, int32_t* __restrict__ lut) {
  extern __shared__ __align__(16) unsigned char sm[];
  float* score = reinterpret_cast<float*>(sm);
  int* idx = reinterpret_cast<int*>(score + np2);
  unsigned char* flag = reinterpret_cast<unsigned char*>(idx + np2);
  const int qb = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
  const float4 qv = reinterpret_cast<const float4*>(pq + (int64_t(h) * QB + qb) * kD)[lane];
  for (int b = warp; b < np2; b += nw) {
    float s = -INFINITY;
    if (b < KB) {
      const float4 kv = reinterpret_cast<const float4*>(pk + (int64_t(h) * KB + b) * kD)[lane];
      s = warp_sum(qv.x * kv.x + qv.y * kv.y + qv.z * kv.z + qv.w * kv.w);
    }
    if (lane == 0) { score[b] = s; idx[b] = b; }
  }
  for (int b = tid; b < KB; b += blockDim.x) flag[b] = 0;
  __syncthreads();
  for (int k = 2; k <= np2; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = tid; i < np2; i += blockDim.x) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const float si = score[i], sj = score[ixj];
          const int ii = idx[i], ij = idx[ixj];
          const bool up = (i & k) == 0;
          const bool swap = up ? before(sj, ij, si, ii) : before(si, ii, sj, ij);
          if (swap) { score[i] = sj; score[ixj] = si; idx[i] = ij; idx[ixj] = ii; }
        }
      }
      __syncthreads();
    }
  }
  for (int i = tid; i < n_sel; i += blockDim.x) flag[idx[i]] = 1;
  __syncthreads();
  if (warp == 0) {
    int32_t* out = lut + (int64_t(h) * QB + qb) * n_sel;
    int count = 0;
    for (int base = 0; base < KB; base += 32) {
      const int b = base + lane;
      const bool f = b < KB && flag[b];
      const unsigned m = __ballot_sync(0xffffffffu, f);
      if (f) out[count + __popc(m & ((1u << lane) - 1u))] = b;
      count += __popc(m);
    }
  }
}

// φ(x) = softmax over the head dim, one warp per (token, head) row of 128; bf16 out.
__global__ void feature_kernel(const bf16* __restrict__ x, bf16* __restrict__ phi, int64_t rows) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int lane = threadIdx.x & 31;
  const uint2 raw = reinterpret_cast<const uint2*>(x + r * kD)[lane];
  const __nv_bfloat162 a = *reinterpret_cast<const __nv_bfloat162*>(&raw.x), b = *reinterpret_cast<const __nv_bfloat162*>(&raw.y);
  float v[4] = {__low2float(a), __high2float(a), __low2float(b), __high2float(b)};
  const float mx = warp_max(fmaxf(fmaxf(v[0], v[1]), fmaxf(v[2], v[3])));
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) { v[i] = __expf(v[i] - mx); s += v[i]; }
  const float inv = 1.f / warp_sum(s);
  __nv_bfloat162 o0 = __floats2bfloat162_rn(v[0] * inv, v[1] * inv), o1 = __floats2bfloat162_rn(v[2] * inv, v[3] * inv);
  uint2 w;
  w.x = *reinterpret_cast<uint32_t*>(&o0);
  w.y = *reinterpret_cast<uint32_t*>(&o1);
  reinterpret_cast<uint2*>(phi + r * kD)[lane] = w;
}

// out[h, c] += Σ over a chunk of 256 rows of x[r, h, c] (out zeroed before).
__global__ void colsum_kernel(const bf16* __restrict__ x, int64_t L, int heads, float* __restrict__ out) {
  const int h = blockIdx.y, c = threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.x) * 256, r1 = min(L, r0 + 256);
  float s = 0.f;
  for (int64_t r = r0; r < r1; ++r) s += __bfloat162float(x[(r * heads + h) * kD + c]);
  atomicAdd(out + h * kD + c, s);
}

// o_l = num / (1e-5 + φ(q)·ks), in place on num; one warp per (token, head).
__global__ void normalize_kernel(bf16* __restrict__ num, const bf16* __restrict__ phi_q, const float* __restrict__ ks,
                                 int64_t rows, int heads) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int lane = threadIdx.x & 31, h = int(r % heads);
  float den = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) den += __bfloat162float(phi_q[r * kD + lane * 4 + i]) * ks[h * kD + lane * 4 + i];
  const float inv = 1.f / (warp_sum(den) + 1e-5f);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    bf16& e = num[r * kD + lane * 4 + i];
    e = __float2bfloat16_rn(__bfloat162float(e) * inv);
  }
}

__global__ void to_bf16_kernel(AnyFloatPtr src, bf16* dst, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = __float2bfloat16_rn(src.load(i));
}

int next_pow2(int x) { int p = 1; while (p < x) p <<= 1; return p; }

// TW_SLA_TIMING=1 prints the time of each stage (events on the op's stream) to stderr.
struct StageTimer {
  bool on = std::getenv("TW_SLA_TIMING") != nullptr;
  cudaStream_t s;
  std::vector<std::pair<const char*, cudaEvent_t>> marks;
  explicit StageTimer(cudaStream_t st) : s(st) { mark("start"); }
  void mark(const char* name) {
    if (!on) return;
    cudaEvent_t e;
    TW_CUDA_CHECK(cudaEventCreate(&e));
    TW_CUDA_CHECK(cudaEventRecord(e, s));
    marks.push_back({name, e});
  }
  ~StageTimer() {
    if (!on) return;
    cudaEventSynchronize(marks.back().second);
    std::fprintf(stderr, "sla stages:");
    for (size_t i = 1; i < marks.size(); ++i) {
      float ms = 0;
      cudaEventElapsedTime(&ms, marks[i - 1].second, marks[i].second);
      std::fprintf(stderr, " %s %.3f ms", marks[i].first, ms);
    }
    std::fprintf(stderr, "\n");
    for (auto& m : marks) cudaEventDestroy(m.second);
  }
};

}  // namespace

void sparse_linear_attention(const ops::SparseLinearAttentionParams& p) {
  const char* op = "sparse_linear_attention";
  for (const auto* t : {&p.q, &p.k, &p.v, &p.o}) check_cuda_tensor(*t, op, "q/k/v/o");
  check(p.q.dtype == DType::BF16 && p.k.dtype == DType::BF16 && p.v.dtype == DType::BF16 && p.o.dtype == DType::BF16, op,
        "on CUDA q, k, v and o must be bfloat16");
  const int64_t L = p.q.size(0), H = p.q.size(1), d = p.q.size(2);
  check(d == kD, op, "the CUDA kernels support head dim 128 only, got " + std::to_string(d));
  if (p.quantized && !(p.blk_q == 64 && p.blk_k == 128))
    not_implemented(op, "quantized=true (SageSLA) with blocks other than the SM90 recipe blk_q=64, blk_k=128");
  check(p.blk_q % 64 == 0 && p.blk_k % 64 == 0, op, "on CUDA blk_q and blk_k must be multiples of 64");
  check_cuda_tensor(p.proj_w, op, "proj_w");
  check_float_dtype(p.proj_w, op, "proj_w");
  if (!p.proj_b.empty()) { check_cuda_tensor(p.proj_b, op, "proj_b"); check_float_dtype(p.proj_b, op, "proj_b"); }
  const int64_t n_sel = ops::sla_selected_blocks(L, p.blk_k, p.topk);
  const int64_t QB = (L + p.blk_q - 1) / p.blk_q, KB = (L + p.blk_k - 1) / p.blk_k;
  check(KB <= 8192, op, "at most 8192 key blocks are supported on CUDA");
  if (!p.block_map.empty()) {
    check_cuda_tensor(p.block_map, op, "block_map");
    check(p.block_map.dtype == DType::I32 && p.block_map.numel() == H * QB * n_sel, op, "block_map must be I32 [heads, QB, n_sel]");
  }
  const cudaStream_t s = stream();
  const int64_t rows = L * H, n_elem = rows * kD;

  ScratchPlan plan;
  const size_t o_pq = plan.add(size_t(H * QB * kD) * 4), o_pk = plan.add(size_t(H * KB * kD) * 4);
  const size_t o_lut = plan.add(size_t(H * QB * n_sel) * 4), o_ks = plan.add(size_t(H * kD) * 4);
  const size_t o_os = plan.add(size_t(n_elem) * 2), o_fq = plan.add(size_t(n_elem) * 2), o_fk = plan.add(size_t(n_elem) * 2);
  const size_t o_num = plan.add(size_t(n_elem) * 2), o_kv = plan.add(size_t(H * kD * kD) * 2);
  const size_t o_w = plan.add(size_t(kD * kD) * 2), o_b = plan.add(size_t(kD) * 2);
  const size_t o_sage = p.quantized ? plan.add(sagesla::scratch_bytes(L, H)) : 0;
  char* base = static_cast<char*>(scratch(plan.total(), 0));
  float* pq = reinterpret_cast<float*>(base + o_pq);
  float* pk = reinterpret_cast<float*>(base + o_pk);
  int32_t* lut = p.block_map.empty() ? reinterpret_cast<int32_t*>(base + o_lut) : static_cast<int32_t*>(p.block_map.data);
  float* ks = reinterpret_cast<float*>(base + o_ks);
  bf16* o_s = reinterpret_cast<bf16*>(base + o_os);
  bf16* phi_q = reinterpret_cast<bf16*>(base + o_fq);
  bf16* phi_k = reinterpret_cast<bf16*>(base + o_fk);
  bf16* num = reinterpret_cast<bf16*>(base + o_num);
  bf16* kv = reinterpret_cast<bf16*>(base + o_kv);
  const bf16* q = static_cast<const bf16*>(p.q.data);
  const bf16* k = static_cast<const bf16*>(p.k.data);
  const bf16* v = static_cast<const bf16*>(p.v.data);

  StageTimer timer(s);
  // 1. Block selection.
  pool_kernel<<<dim3(unsigned(QB), unsigned(H)), kD, 0, s>>>(q, L, int(H), p.blk_q, pq);
  TW_CUDA_CHECK_LAUNCH(pool_kernel);
  pool_kernel<<<dim3(unsigned(KB), unsigned(H)), kD, 0, s>>>(k, L, int(H), p.blk_k, pk);
  TW_CUDA_CHECK_LAUNCH(pool_kernel);
  smooth_k_kernel<<<unsigned(H), kD, 0, s>>>(pk, int(KB), L, p.blk_k);
  TW_CUDA_CHECK_LAUNCH(smooth_k_kernel);
  const int np2 = next_pow2(int(KB));
  const size_t sel_smem = size_t(np2) * 8 + size_t(np2);
  if (sel_smem > 48 * 1024)
    TW_CUDA_CHECK(cudaFuncSetAttribute(select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(sel_smem)));
  select_kernel<<<dim3(unsigned(QB), unsigned(H)), 256, sel_smem, s>>>(pq, pk, int(QB), int(KB), np2, int(n_sel), lut);
  TW_CUDA_CHECK_LAUNCH(select_kernel);
  timer.mark("select");

  // 2. Sparse softmax branch → o_s.
  const float scale = p.scale != 0.f ? p.scale : 1.f / std::sqrt(float(d));
  if (p.quantized) {
    sagesla::sparse_branch(q, k, v, L, H, lut, int(n_sel), scale, o_s, base + o_sage, s);
  } else {
    flash::Args a;
    a.q = q; a.k = k; a.v = v; a.o = o_s;
    a.Lq = L; a.Lk = L; a.heads = int(H);
    a.scale_log2 = scale * 1.4426950408889634f;
    a.lut = lut; a.n_sel = int(n_sel); a.blk_q = p.blk_q; a.blk_k = p.blk_k; a.q_blocks = QB;
    flash::launch_flash_fwd(a, true, s);
  }
  timer.mark("sparse");

  // 3. Linear branch.
  const unsigned feat_blocks = unsigned((rows + 7) / 8);
  feature_kernel<<<feat_blocks, 256, 0, s>>>(q, phi_q, rows);
  TW_CUDA_CHECK_LAUNCH(feature_kernel);
  feature_kernel<<<feat_blocks, 256, 0, s>>>(k, phi_k, rows);
  TW_CUDA_CHECK_LAUNCH(feature_kernel);
  TW_CUDA_CHECK(cudaMemsetAsync(ks, 0, size_t(H * kD) * 4, s));
  colsum_kernel<<<dim3(unsigned((L + 255) / 256), unsigned(H)), kD, 0, s>>>(phi_k, L, int(H), ks);
  TW_CUDA_CHECK_LAUNCH(colsum_kernel);
  cublasHandle_t hb = cublas_handle();
  const float one = 1.f, zero = 0.f;
  const int ld = int(H * kD);
  // KV[h] (row-major [dk][dv]) = φ(k)_hᵀ·v_h; column-major: KVᵀ(dv×dk) = v_hᵀ(dv×L) · φ(k)_h(L×dk).
  TW_CUBLAS_CHECK(cublasGemmStridedBatchedEx(hb, CUBLAS_OP_N, CUBLAS_OP_T, kD, kD, int(L), &one, v, CUDA_R_16BF, ld, kD,
                                             phi_k, CUDA_R_16BF, ld, kD, &zero, kv, CUDA_R_16BF, kD, int64_t(kD) * kD, int(H),
                                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  // num[l, h, :] = φ(q)[l, h, :]·KV[h]; column-major: numᵀ(dv×L) = KVᵀ(dv×dk) · φ(q)ᵀ(dk×L).
  TW_CUBLAS_CHECK(cublasGemmStridedBatchedEx(hb, CUBLAS_OP_N, CUBLAS_OP_N, kD, int(L), kD, &one, kv, CUDA_R_16BF, kD,
                                             int64_t(kD) * kD, phi_q, CUDA_R_16BF, ld, kD, &zero, num, CUDA_R_16BF, ld, kD,
                                             int(H), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  normalize_kernel<<<feat_blocks, 256, 0, s>>>(num, phi_q, ks, rows, int(H));
  TW_CUDA_CHECK_LAUNCH(normalize_kernel);
  timer.mark("linear");

  // 4. o = o_s + proj_l(o_l): one GEMM over all (token, head) rows with o_s as the C operand.
  const void* w = p.proj_w.data;
  if (p.proj_w.dtype != DType::BF16) {
    to_bf16_kernel<<<(kD * kD + 255) / 256, 256, 0, s>>>(AnyFloatPtr::of(p.proj_w), reinterpret_cast<bf16*>(base + o_w), kD * kD);
    TW_CUDA_CHECK_LAUNCH(to_bf16_kernel);
    w = base + o_w;
  }
  const void* bias = p.proj_b.empty() ? nullptr : p.proj_b.data;
  if (bias && p.proj_b.dtype != DType::BF16) {
    to_bf16_kernel<<<1, kD, 0, s>>>(AnyFloatPtr::of(p.proj_b), reinterpret_cast<bf16*>(base + o_b), kD);
    TW_CUDA_CHECK_LAUNCH(to_bf16_kernel);
    bias = base + o_b;
  }
  GemmBf16Args g;
  g.M = rows; g.N = kD; g.K = kD;
  g.x = num; g.ldx = kD;
  g.w = w; g.ldw = kD;
  g.bias = bias;
  g.c = o_s; g.ldc = kD;
  g.y = p.o.data; g.ldy = kD;
  gemm_bf16(g);
  timer.mark("proj");
}

}  // namespace tw::cuda
