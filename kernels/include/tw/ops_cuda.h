// CUDA entry points of the ops in ops.h. The CPU entry points (kernels/<family>/<op>.cpp) call these
// when the op's tensors live on the CUDA device; they are defined by kernels/<family>/<op>.cu and
// exist only in builds with TW_CUDA. On CUDA, activations are BF16 (see each .cu for what it accepts);
// an op without a CUDA implementation throws tw::Error("op X: not implemented on CUDA yet").
#pragma once

#include "tw/ops.h"

namespace tw::cuda {

void linear(const ops::LinearParams& p);
void quantize_int8_block128(const ops::QuantizeInt8Params& p);
void linear_int8(const ops::LinearInt8Params& p);
void layer_norm(const ops::LayerNormParams& p);
void rms_norm(const ops::RmsNormParams& p);
void activation(const ops::ActivationParams& p);
void modulate(const ops::ModulateParams& p);
void gated_add(const ops::GatedAddParams& p);
void rope3d(const ops::Rope3dParams& p);
void attention(const ops::AttentionParams& p);
void sparse_linear_attention(const ops::SparseLinearAttentionParams& p);

}  // namespace tw::cuda
