// attention_rel_bias on CUDA (umT5 self-attention; also the Wan VAE's single-head, d = 384 middle
// attention): per head, S = q·kᵀ through the cuBLASLt bf16 GEMM (fp32 accumulation, rounded to bf16
// as the bf16 reference's einsum is), then one CTA per row: logits = scale·S + rel_bias, masked keys
// excluded, fp32 softmax, P rounded to bf16 (T5's `.type_as`), then O = P·V through the same GEMM
// (fp32 accumulation, one rounding to bf16).
// q [Lq, heads, d], k, v [Lk, heads, d], o [Lq, heads, d] BF16; rel_bias [heads, Lq + Lk − 1] any
// float dtype (optional); key_mask [Lk] I32 (optional).
#include <cuda_bf16.h>

#include <cmath>

#include "../linear/gemm_lt.h"
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_extra.h"

namespace tw::cuda {

void launch_transpose2d(const void* x, int64_t ldx, void* y, int64_t ldy, int64_t R, int64_t C, size_t elem_bytes);  // transpose2d.cu

namespace {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float block_max(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float m = lane < nwarps ? red[lane] : -INFINITY;
  return warp_max(m);
}

// Row i of S [Lq, ldS] (bf16 q·kᵀ) → P in place.
__global__ void rel_bias_softmax_kernel(bf16* S, int64_t ldS, int64_t Lq, int64_t Lk, float scale, AnyFloatPtr bias,
                                        int64_t bias_row, const int* __restrict__ mask) {
  __shared__ float red[32];
  const int64_t i = blockIdx.x;
  bf16* row = S + i * ldS;
  const int64_t bias0 = bias_row + Lq - 1 - i;  // + j
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    if (mask && mask[j] == 0) continue;
    m = fmaxf(m, scale * __bfloat162float(row[j]) + bias.load(bias0 + j, 0.f));
  }
  m = block_max(m, red);
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    if (mask && mask[j] == 0) continue;
    s += __expf(scale * __bfloat162float(row[j]) + bias.load(bias0 + j, 0.f) - m);
  }
  s = block_sum(s, red);
  const float inv = 1.f / s;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    float p = 0.f;
    if (!(mask && mask[j] == 0)) p = __expf(scale * __bfloat162float(row[j]) + bias.load(bias0 + j, 0.f) - m) * inv;
    row[j] = __float2bfloat16_rn(p);
  }
}

}  // namespace

void attention_rel_bias(const ops::AttentionRelBiasParams& p) {
  const char* op = "attention_rel_bias";
  check_cuda_tensor(p.q, op, "q");
  check_cuda_tensor(p.k, op, "k");
  check_cuda_tensor(p.v, op, "v");
  check_cuda_tensor(p.o, op, "o");
  check(p.q.dtype == DType::BF16 && p.k.dtype == DType::BF16 && p.v.dtype == DType::BF16 && p.o.dtype == DType::BF16, op,
        "on CUDA q, k, v and o must be bfloat16");
  check(p.o.data != p.q.data && p.o.data != p.k.data && p.o.data != p.v.data, op, "o must not alias q, k or v");
  if (!p.rel_bias.empty()) { check_cuda_tensor(p.rel_bias, op, "rel_bias"); check_float_dtype(p.rel_bias, op, "rel_bias"); }
  if (!p.key_mask.empty()) check_cuda_tensor(p.key_mask, op, "key_mask");
  const int64_t Lq = p.q.size(0), H = p.q.size(1), d = p.q.size(2), Lk = p.k.size(0);
  const int64_t ldS = (Lk + 7) / 8 * 8;  // 16-byte aligned rows for the GEMMs
  ScratchPlan plan;
  const size_t off_s = plan.add(size_t(Lq * ldS) * sizeof(bf16));
  const size_t off_vt = plan.add(size_t(d * ldS) * sizeof(bf16));
  char* base = static_cast<char*>(scratch(plan.total(), 0));
  bf16* S = reinterpret_cast<bf16*>(base + off_s);
  bf16* Vt = reinterpret_cast<bf16*>(base + off_vt);
  const auto* q = static_cast<const bf16*>(p.q.data);
  const auto* k = static_cast<const bf16*>(p.k.data);
  const auto* v = static_cast<const bf16*>(p.v.data);
  auto* o = static_cast<bf16*>(p.o.data);
  const int* mask = p.key_mask.empty() ? nullptr : static_cast<const int*>(p.key_mask.data);
  const AnyFloatPtr bias = AnyFloatPtr::of(p.rel_bias);
  const int threads = Lk >= 1024 ? 512 : 128;
  for (int64_t h = 0; h < H; ++h) {
    GemmBf16Args s;  // S[Lq, Lk] = q_h · k_hᵀ
    s.M = Lq; s.N = Lk; s.K = d;
    s.x = q + h * d; s.ldx = H * d;
    s.w = k + h * d; s.ldw = H * d;
    s.y = S; s.ldy = ldS;
    gemm_bf16(s);
    rel_bias_softmax_kernel<<<unsigned(Lq), threads, 0, stream()>>>(S, ldS, Lq, Lk, p.scale, bias, h * (Lq + Lk - 1), mask);
    TW_CUDA_CHECK_LAUNCH(rel_bias_softmax_kernel);
    launch_transpose2d(v + h * d, H * d, Vt, ldS, Lk, d, sizeof(bf16));  // Vt[d, Lk] = v_hᵀ
    GemmBf16Args g;  // o_h[Lq, d] = P · v_h
    g.M = Lq; g.N = d; g.K = Lk;
    g.x = S; g.ldx = ldS;
    g.w = Vt; g.ldw = ldS;
    g.y = o + h * d; g.ldy = H * d;
    gemm_bf16(g);
  }
}

}  // namespace tw::cuda
