// Ops added for the umT5 text encoder, in the style of ops.h (one params struct, one entry that
// dispatches on the tensors' device; CPU references beside the other ops of their family).
#pragma once

#include "tw/tensor.h"

namespace tw::ops {

// ---------------------------------------------------------------- attention_rel_bias
// Softmax attention with an additive relative-position bias and a key mask (T5 / ALiBi style):
//   logits[h,i,j] = scale · q[i,h]·k[j,h] + rel_bias[h, j − i + Lq − 1]; keys with key_mask[j] == 0
//   are excluded (the reference sets their logit to the dtype minimum, whose exp is exactly 0);
//   o = softmax_j(logits) · v. Scale 1 is T5's (no 1/√d).
// q [Lq, heads, d]; k,v [Lk, heads, d]; o [Lq, heads, d] F32; rel_bias [heads, Lq + Lk − 1] F32
// (optional); key_mask [Lk] I32 (optional, every query needs ≥ 1 unmasked key).
struct AttentionRelBiasParams {
  Tensor q, k, v, o;
  Tensor rel_bias, key_mask;
  float scale = 1.f;
};
void attention_rel_bias(const AttentionRelBiasParams& p);

// ---------------------------------------------------------------- mul
// y = a ⊙ b elementwise (same shapes, contiguous F32; y may alias a or b). Gated FFNs.
struct MulParams {
  Tensor a, b, y;
};
void mul(const MulParams& p);

}  // namespace tw::ops

#ifdef TW_CUDA
namespace tw::cuda {
void attention_rel_bias(const ops::AttentionRelBiasParams& p);
void mul(const ops::MulParams& p);
}  // namespace tw::cuda
#endif
