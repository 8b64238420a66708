// CUDA builds: the ops of ops_conv.h and ops_extra.h have no CUDA kernels yet. These stubs keep CUDA
// builds linking and tell the caller what is missing; delete each one when its .cu lands.
#ifdef TW_CUDA
#include "tw/ops_conv.h"
#include "tw/ops_extra.h"

namespace tw::cuda {
namespace {
[[noreturn]] void pending(const char* op) { throw Error(std::string("op ") + op + ": not implemented on CUDA yet"); }
}  // namespace
void conv3d(const ops::Conv3dParams&) { pending("conv3d"); }
void conv2d(const ops::Conv2dParams&) { pending("conv2d"); }
void upsample_nearest(const ops::UpsampleNearestParams&) { pending("upsample_nearest"); }
void channel_rms_norm(const ops::ChannelRmsNormParams&) { pending("channel_rms_norm"); }
void transpose2d(const ops::Transpose2dParams&) { pending("transpose2d"); }
void attention_rel_bias(const ops::AttentionRelBiasParams&) { pending("attention_rel_bias"); }
void mul(const ops::MulParams&) { pending("mul"); }
}  // namespace tw::cuda
#endif
