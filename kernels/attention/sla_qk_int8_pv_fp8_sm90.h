// SageSLA's sparse branch on CUDA (facts §4.4, the SM90 recipe: blk_q 64, blk_k 128): int8 Q·K
// with per-block scales and smooth-K, fp8 e4m3 P·V with a per-channel V scale, fp32 accumulation,
// on tensor cores through mma.sync (m16n8k32 s8 and e4m3; sm_89+).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tw::cuda::sagesla {

// Scratch the quantized branch needs, in bytes, for L tokens and H heads.
size_t scratch_bytes(int64_t L, int64_t H);

// o_s[L, H, 128] (bf16) = block-sparse softmax(q·kᵀ·scale)·v over the key blocks in lut
// [H, ceil(L/64), n_sel], computed SageAttention-style, + bias[128] (null: none).
// `scratch` holds scratch_bytes(L, H).
void sparse_branch(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v, int64_t L, int64_t H,
                   const int32_t* lut, int n_sel, float scale, const float* bias, __nv_bfloat16* o_s, void* scratch,
                   cudaStream_t s);

}  // namespace tw::cuda::sagesla
