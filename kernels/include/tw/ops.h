// The closed list of ops. Each op has one params struct (plain data) and one entry point that
// dispatches on the tensors' device: CPU reference (kernels/<family>/<op>.cpp, fp32/double
// accumulation, always built) or CUDA (kernels/<family>/<op>.cu, built with TW_CUDA).
// Ops know nothing about models. Outputs are preallocated by the caller; ops never allocate them.
//
// CPU conventions: activations are contiguous F32. Weights may be F32, BF16 or F16 (read and
// upcast element by element, so a memory-mapped bf16 checkpoint needs no second host copy).
// Shapes are written [rows, cols] with the last dim contiguous.
#pragma once

#include "tw/tensor.h"

namespace tw::ops {

// ---------------------------------------------------------------- linear
// y[M,N] = x[M,K] · w[N,K]ᵀ + b[N]          (torch.nn.functional.linear)
// b optional (empty). x,y F32 on CPU; w,b F32|BF16|F16.
struct LinearParams {
  Tensor x, w, b, y;
};
void linear(const LinearParams& p);

// Block-int8 quantizer of TurboDiffusion's W8A8 linears (facts §3): 128×128 tiles,
// amax = max(1e-8, max|x| over the tile), q = sat_s8(rne(x · 128/amax)), scale = amax/128.
// x [M,K] F32|BF16; q [M,K] I8; scale [ceil(M/128), ceil(K/128)] F32.
struct QuantizeInt8Params {
  Tensor x, q, scale;
};
void quantize_int8_block128(const QuantizeInt8Params& p);

// W8A8 linear as TD's Int8Linear: x is rounded to bf16, quantized per 128×128 tile, then
// y[m,n] = Σ_kb float(Σ_{k∈kb} qx·qw) · (sx[m/128,kb]·sw[n/128,kb]) accumulated in fp32 in kb order,
// rounded to bf16, then + bias (bf16) with one more bf16 rounding. K must be a multiple of 128.
// x [M,K] F32; w_q [N,K] I8; w_scale [ceil(N/128), K/128] F32; b [N] BF16|F32 (optional); y [M,N] F32.
struct LinearInt8Params {
  Tensor x, w_q, w_scale, b, y;
};
void linear_int8(const LinearInt8Params& p);

// ---------------------------------------------------------------- norms (over the last dim)
// LayerNorm: y = (x - mean) / sqrt(var + eps) [* w + b]; w,b optional (no affine when empty).
struct LayerNormParams {
  Tensor x, w, b, y;
  float eps = 1e-6f;
};
void layer_norm(const LayerNormParams& p);

// RMSNorm: y = x * rsqrt(mean(x²) + eps) * w. x,y [rows, D]; w [D] any float dtype.
struct RmsNormParams {
  Tensor x, w, y;
  float eps = 1e-6f;
};
void rms_norm(const RmsNormParams& p);

// ---------------------------------------------------------------- elementwise (in place allowed)
enum class Activation { GeluTanh, Silu };
struct ActivationParams {
  Tensor x, y;
  Activation act;
};
void activation(const ActivationParams& p);

// y[r, c] = x[r, c] * (1 + scale[c]) + shift[c]      (DiT adaLN modulation; x,y [rows, D], scale/shift [D] F32)
struct ModulateParams {
  Tensor x, scale, shift, y;
};
void modulate(const ModulateParams& p);

// x[r, c] += y[r, c] * gate[c]   (gated residual; gate empty → plain add). x,y [rows, D], gate [D] F32.
struct GatedAddParams {
  Tensor x, y, gate;
};
void gated_add(const GatedAddParams& p);

// ---------------------------------------------------------------- RoPE
// Wan's interleaved 3D rotary embedding, in place on x [L, heads, 128] for a token grid T×H×W
// (token n = t·H·W + h·W + w). Pair i of a head rotates (x[2i], x[2i+1]) by angle
// pos_axis · theta^(−2j/dim_axis); pairs 0..21 use t (dim 44), 22..42 use h, 43..63 use w (dim 42).
// Angles, cos/sin and the rotation are float64, rounded once to fp32 (the official Wan2.1 math).
struct Rope3dParams {
  Tensor x;
  int64_t T = 0, H = 0, W = 0;
  double theta = 10000.0;
};
void rope3d(const Rope3dParams& p);

// ---------------------------------------------------------------- attention
// Dense softmax attention per head: o = softmax(q·kᵀ·scale) · v.
// q [Lq, heads, d], k,v [Lk, heads, d], o [Lq, heads, d]; fp32 softmax.
struct AttentionParams {
  Tensor q, k, v, o;
  float scale = 0.f;  // 0 → 1/sqrt(d)
};
void attention(const AttentionParams& p);

// SLA / SageSLA (facts §4): block selection on mean-pooled q and smooth-k, block-sparse softmax
// over the selected key blocks, plus the linear branch φ=softmax over head dim with proj_l,
// o = o_sparse + proj_l(o_linear). With `quantized` (SageSLA) the sparse branch emulates int8 Q·K
// (per-block scales, smooth-K) and fp8 e4m3 P·V (per-channel V scale) exactly as the SM90 kernel does.
// q,k,v,o [L, heads, 128]; proj_w [128,128], proj_b [128] (any float dtype).
// block_map (optional output) [heads, ceil(L/blk_q), n_sel] I32: the selected key blocks, ascending.
struct SparseLinearAttentionParams {
  Tensor q, k, v, o;
  Tensor proj_w, proj_b;
  Tensor block_map;
  float topk = 0.1f;
  int blk_q = 64, blk_k = 128;  // SM90 SageSLA: 64/128; SLA (Triton) and other archs: 128/64
  bool quantized = false;       // false: SLA, true: SageSLA
  float scale = 0.f;            // 0 → 1/sqrt(d)
};
void sparse_linear_attention(const SparseLinearAttentionParams& p);
// n_sel = min(Kblocks, int(topk · Kblocks)) with Python float semantics; throws when 0.
int64_t sla_selected_blocks(int64_t L, int blk_k, float topk);

}  // namespace tw::ops
