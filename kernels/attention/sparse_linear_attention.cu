// SLA and SageSLA on CUDA (facts §4). q/k/v/o [L, heads, 128] bf16; proj_w/proj_b any float dtype.
//
// Pipeline:
//  1. selection, in fp32 like the CPU reference: mean-pool q (blk_q) and k (blk_k), smooth-K as
//     "block mean − mean over L", scores S = pooled_q·pooled_kᵀ by a batched fp32 GEMM (cuBLAS),
//     then per (head, q block) an exact radix select of the n_sel largest scores (ties → lower
//     block index, as the reference), written to the block map in ascending block order;
//  2. the sparse branch writes o = o_s + proj_b: flash attention over the selected key tiles
//     (bf16, flash_bf16.cuh) or, with quantized=true (SageSLA, SM90 blocks 64/128), the int8 Q·K /
//     fp8 P·V kernel of sla_qk_int8_pv_fp8_sm90.cu;
//  3. the linear branch is folded into one batched GEMM that accumulates into o:
//       proj_l(o_l) − b = (φ(q)/den)·(KV·Wᵀ),  KV = φ(k)ᵀ·v,  den = 1e-5 + φ(q)·Σ_L φ(k),
//     because dividing a row by den commutes with the linear maps. φ = softmax over the head dim.
// TW_SLA_TIMING=1 prints each stage's time to stderr.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

// One CTA per (q block, head): the n_sel largest of the KB scores by an exact radix select on
// order-preserving uint32 keys, ties at the threshold taken in ascending block order; the selected
// block indices are written in ascending order.
__global__ void topk_select_kernel(const float* __restrict__ S, int QB, int KB, int n_sel, int32_t* __restrict__ lut) {
  extern __shared__ uint32_t key[];
  __shared__ int count;
  const int qb = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, lane = tid & 31;
  const float* row = S + (int64_t(h) * QB + qb) * KB;
  for (int b = tid; b < KB; b += blockDim.x) {
    const uint32_t u = __float_as_uint(row[b]);
    key[b] = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  }
  uint32_t t = 0;  // grows to the n_sel-th largest key: the largest t with #(key ≥ t) ≥ n_sel
  for (int bit = 31; bit >= 0; --bit) {
    const uint32_t cand = t | (1u << bit);
    if (tid == 0) count = 0;
    __syncthreads();
    int c = 0;
    for (int b = tid; b < KB; b += blockDim.x) c += key[b] >= cand;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) c += __shfl_xor_sync(0xffffffffu, c, o);
    if (lane == 0 && c) atomicAdd(&count, c);
    __syncthreads();
    if (count >= n_sel) t = cand;
    __syncthreads();
  }
  if (tid >= 32) return;
  int gt = 0;
  for (int base = 0; base < KB; base += 32) {
    const int b = base + lane;
    gt += __popc(__ballot_sync(0xffffffffu, b < KB && key[b] > t));
  }
  const int need = n_sel - gt;  // ≥ 1 ties at t to take, lowest block first
  int32_t* out = lut + (int64_t(h) * QB + qb) * n_sel;
  int written = 0, ties = 0;
  const unsigned below = (1u << lane) - 1u;
  for (int base = 0; base < KB; base += 32) {
    const int b = base + lane;
    const uint32_t kb = b < KB ? key[b] : 0u;
    const bool g = b < KB && kb > t, e = b < KB && kb == t;
    const unsigned em = __ballot_sync(0xffffffffu, e);
    const bool sel = g || (e && ties + __popc(em & below) < need);
    const unsigned sm = __ballot_sync(0xffffffffu, sel);
    if (sel) out[written + __popc(sm & below)] = b;
    written += __popc(sm);
    ties += __popc(em);
  }
}

// φ(x) = softmax over the head dim, one warp per (token, head) row of 128. With `ks` (Σ_L φ(k),
// [H,128]) the row is divided by den = 1e-5 + φ·ks (the linear branch's normalization). bf16 out.
__global__ void feature_kernel(const bf16* __restrict__ x, const float* __restrict__ ks, int heads, bf16* __restrict__ phi,
                               int64_t rows) {
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
  float inv = 1.f / warp_sum(s);
  if (ks) {
    const float4 k4 = reinterpret_cast<const float4*>(ks + int64_t(r % heads) * kD)[lane];
    const float den = warp_sum(v[0] * k4.x + v[1] * k4.y + v[2] * k4.z + v[3] * k4.w) * inv + 1e-5f;
    inv /= den;
  }
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

// kvw[h, i, j] = Σ_c kv[h, i, c] · w[j, c]  (KV·Wᵀ, fp32 math, bf16 out); one CTA per (i, h).
__global__ void kv_proj_kernel(const float* __restrict__ kv, AnyFloatPtr w, bf16* __restrict__ kvw) {
  __shared__ float row[kD];
  const int i = blockIdx.x, h = blockIdx.y, j = threadIdx.x;
  row[j] = kv[(int64_t(h) * kD + i) * kD + j];
  __syncthreads();
  float s = 0.f;
  for (int c = 0; c < kD; ++c) s += row[c] * w.load(int64_t(j) * kD + c);
  kvw[(int64_t(h) * kD + i) * kD + j] = __float2bfloat16_rn(s);
}

__global__ void to_f32_kernel(AnyFloatPtr src, float* dst, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = src.load(i);
}

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
  const size_t o_S = plan.add(size_t(H * QB * KB) * 4), o_lut = plan.add(size_t(H * QB * n_sel) * 4);
  const size_t o_ks = plan.add(size_t(H * kD) * 4), o_bias = plan.add(size_t(kD) * 4);
  const size_t o_fq = plan.add(size_t(n_elem) * 2), o_fk = plan.add(size_t(n_elem) * 2);
  const size_t o_kv = plan.add(size_t(H * kD * kD) * 4), o_kvw = plan.add(size_t(H * kD * kD) * 2);
  const size_t o_sage = p.quantized ? plan.add(sagesla::scratch_bytes(L, H)) : 0;
  char* base = static_cast<char*>(scratch(plan.total(), 0));
  float* pq = reinterpret_cast<float*>(base + o_pq);
  float* pk = reinterpret_cast<float*>(base + o_pk);
  float* S = reinterpret_cast<float*>(base + o_S);
  int32_t* lut = p.block_map.empty() ? reinterpret_cast<int32_t*>(base + o_lut) : static_cast<int32_t*>(p.block_map.data);
  float* ks = reinterpret_cast<float*>(base + o_ks);
  float* bias = p.proj_b.empty() ? nullptr : reinterpret_cast<float*>(base + o_bias);
  bf16* phi_q = reinterpret_cast<bf16*>(base + o_fq);
  bf16* phi_k = reinterpret_cast<bf16*>(base + o_fk);
  float* kv = reinterpret_cast<float*>(base + o_kv);
  bf16* kvw = reinterpret_cast<bf16*>(base + o_kvw);
  const bf16* q = static_cast<const bf16*>(p.q.data);
  const bf16* k = static_cast<const bf16*>(p.k.data);
  const bf16* v = static_cast<const bf16*>(p.v.data);
  bf16* o = static_cast<bf16*>(p.o.data);
  cublasHandle_t hb = cublas_handle();
  const float one = 1.f, zero = 0.f;
  const int ld = int(H * kD);
  StageTimer timer(s);

  // 1. Block selection.
  pool_kernel<<<dim3(unsigned(QB), unsigned(H)), kD, 0, s>>>(q, L, int(H), p.blk_q, pq);
  TW_CUDA_CHECK_LAUNCH(pool_kernel);
  pool_kernel<<<dim3(unsigned(KB), unsigned(H)), kD, 0, s>>>(k, L, int(H), p.blk_k, pk);
  TW_CUDA_CHECK_LAUNCH(pool_kernel);
  smooth_k_kernel<<<unsigned(H), kD, 0, s>>>(pk, int(KB), L, p.blk_k);
  TW_CUDA_CHECK_LAUNCH(smooth_k_kernel);
  // S[h] (row-major [QB][KB]) = pq[h]·pk[h]ᵀ; column-major: Sᵀ(KB×QB) = pk(KB×128)·pqᵀ(128×QB). Exact fp32.
  TW_CUBLAS_CHECK(cublasGemmStridedBatchedEx(hb, CUBLAS_OP_T, CUBLAS_OP_N, int(KB), int(QB), kD, &one, pk, CUDA_R_32F, kD,
                                             KB * kD, pq, CUDA_R_32F, kD, QB * kD, &zero, S, CUDA_R_32F, int(KB), QB * KB, int(H),
                                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  const size_t sel_smem = size_t(KB) * 4;
  if (sel_smem > 48 * 1024)
    TW_CUDA_CHECK(cudaFuncSetAttribute(topk_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(sel_smem)));
  topk_select_kernel<<<dim3(unsigned(QB), unsigned(H)), 128, sel_smem, s>>>(S, int(QB), int(KB), int(n_sel), lut);
  TW_CUDA_CHECK_LAUNCH(topk_select_kernel);
  timer.mark("select");

  // 2. Sparse softmax branch: o = o_s + proj_b.
  if (bias) {
    to_f32_kernel<<<1, kD, 0, s>>>(AnyFloatPtr::of(p.proj_b), bias, kD);
    TW_CUDA_CHECK_LAUNCH(to_f32_kernel);
  }
  const float scale = p.scale != 0.f ? p.scale : 1.f / std::sqrt(float(d));
  if (p.quantized) {
    sagesla::sparse_branch(q, k, v, L, H, lut, int(n_sel), scale, bias, o, base + o_sage, s);
  } else {
    flash::Args a;
    a.q = q; a.k = k; a.v = v; a.o = o;
    a.Lq = L; a.Lk = L; a.heads = int(H);
    a.scale_log2 = scale * 1.4426950408889634f;
    a.bias = bias;
    a.lut = lut; a.n_sel = int(n_sel); a.blk_q = p.blk_q; a.blk_k = p.blk_k; a.q_blocks = QB;
    flash::launch_flash_fwd(a, true, s);
  }
  timer.mark("sparse");

  // 3. Linear branch, accumulated into o.
  const unsigned feat_blocks = unsigned((rows + 7) / 8);
  feature_kernel<<<feat_blocks, 256, 0, s>>>(k, nullptr, int(H), phi_k, rows);
  TW_CUDA_CHECK_LAUNCH(feature_kernel);
  TW_CUDA_CHECK(cudaMemsetAsync(ks, 0, size_t(H * kD) * 4, s));
  colsum_kernel<<<dim3(unsigned((L + 255) / 256), unsigned(H)), kD, 0, s>>>(phi_k, L, int(H), ks);
  TW_CUDA_CHECK_LAUNCH(colsum_kernel);
  // KV[h] (row-major [dk][dv], fp32) = φ(k)_hᵀ·v_h; column-major: KVᵀ(dv×dk) = v_hᵀ(dv×L)·φ(k)_h(L×dk).
  TW_CUBLAS_CHECK(cublasGemmStridedBatchedEx(hb, CUBLAS_OP_N, CUBLAS_OP_T, kD, kD, int(L), &one, v, CUDA_R_16BF, ld, kD,
                                             phi_k, CUDA_R_16BF, ld, kD, &zero, kv, CUDA_R_32F, kD, int64_t(kD) * kD, int(H),
                                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  kv_proj_kernel<<<dim3(kD, unsigned(H)), kD, 0, s>>>(kv, AnyFloatPtr::of(p.proj_w), kvw);
  TW_CUDA_CHECK_LAUNCH(kv_proj_kernel);
  feature_kernel<<<feat_blocks, 256, 0, s>>>(q, ks, int(H), phi_q, rows);
  TW_CUDA_CHECK_LAUNCH(feature_kernel);
  // o[l, h, :] += (φ(q)/den)[l, h, :]·KVW[h]; column-major: oᵀ(out×L) += KVWᵀ(out×dk)·φ'ᵀ(dk×L).
  TW_CUBLAS_CHECK(cublasGemmStridedBatchedEx(hb, CUBLAS_OP_N, CUBLAS_OP_N, kD, int(L), kD, &one, kvw, CUDA_R_16BF, kD,
                                             int64_t(kD) * kD, phi_q, CUDA_R_16BF, ld, kD, &one, o, CUDA_R_16BF, ld, kD, int(H),
                                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  timer.mark("linear");
}

}  // namespace tw::cuda
