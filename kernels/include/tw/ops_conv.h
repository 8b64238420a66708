// Convolution-family ops (what a video VAE is made of), in the style of ops.h: one params struct and
// one entry per op that dispatches on the tensors' device. CPU references live in kernels/conv/*.cpp.
//
// Layout: activations are channel-first without a batch dim, contiguous F32: video [C, T, H, W],
// image [C, H, W]. Weights are PyTorch's ([Cout, Cin, kt, kh, kw] / [Cout, Cin, kh, kw]) in
// F32|BF16|F16, read in place.
#pragma once

#include "tw/tensor.h"

namespace tw::ops {

// ---------------------------------------------------------------- conv3d
// y = conv3d(cat([zeros(pad_t), cache, x], T), w, b, stride) with spatial zero padding
// (top/bottom/left/right may differ): torch `F.conv3d(F.pad(torch.cat([cache, x], 2), ...), w, b, stride)`.
// This is Wan's CausalConv3d: time is padded in front only, and `cache` holds the last frames of the
// previous chunk's input so that chunked processing equals one causal conv over the whole sequence.
// x [Cin, T, H, W]; cache optional [Cin, Tc, H, W]; w [Cout, Cin, kt, kh, kw]; b optional [Cout];
// y [Cout, To, Ho, Wo] with To = (pad_t + Tc + T − kt)/st + 1, Ho = (H + top + bottom − kh)/sh + 1, same for W.
// residual optional, y's shape and dtype: y = conv + b + residual with one rounding (a ResNet block's skip
// add fused into its second conv); it may not alias y.
struct Conv3dParams {
  Tensor x, cache, w, b, y, residual;
  int64_t stride_t = 1, stride_h = 1, stride_w = 1;
  int64_t pad_t = 0;  // zero frames in front (never behind: causal)
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  // x_padded_cl: x is [Tp, Hp, Wp, Cin], channels last, and already holds the whole padded sequence
  // [zeros(pad_t) | cache | x] with its spatial zero border (what channel_rms_norm writes with y_padded_cl),
  // so the conv skips its own pad/transpose pass. cache must be empty and every pad 0 then; the output
  // is [Cout, (Tp − kt)/st + 1, (Hp − kh)/sh + 1, …] as usual. On CUDA it needs Cin % 32 == 0.
  bool x_padded_cl = false;
};
void conv3d(const Conv3dParams& p);
// Output extent of one axis: (n + pad − k)/stride + 1 (throws when the window does not fit).
int64_t conv_out_size(int64_t n, int64_t pad, int64_t k, int64_t stride, const char* what);

// ---------------------------------------------------------------- conv2d
// Per-frame 2-D conv: torch `F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride)` on every
// frame of x [Cin, T, H, W] (or a single image [Cin, H, W]); w [Cout, Cin, kh, kw]; y [Cout, T, Ho, Wo]
// (or [Cout, Ho, Wo]). Wan's downsample is stride 2 with pad right 1 / bottom 1.
struct Conv2dParams {
  Tensor x, w, b, y;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  // upsample > 1: the conv sees x nearest-upsampled by this factor in H and W (upsample_nearest, then
  // pad, then conv; paddings and y refer to the upsampled size) without the upsampled tensor being
  // written: Wan's Resample "upsample2d" in one op. On CUDA it needs Cin % 32 == 0.
  int64_t upsample = 1;
};
void conv2d(const Conv2dParams& p);

// ---------------------------------------------------------------- upsample_nearest
// Nearest-neighbour upsampling by integer factors of the last two dims:
// y[..., i, j] = x[..., i / fh, j / fw]   (torch `nn.Upsample(scale_factor=(fh, fw), mode="nearest-exact")`,
// identical to "nearest" for integer factors). x [..., H, W], y [..., fh·H, fw·W].
struct UpsampleNearestParams {
  Tensor x, y;
  int64_t factor_h = 2, factor_w = 2;
};
void upsample_nearest(const UpsampleNearestParams& p);

// ---------------------------------------------------------------- channel_rms_norm
// Wan VAE's RMS_norm over the channel dim of a channel-first tensor:
// y[c, n] = x[c, n] / max(‖x[:, n]‖₂, eps) · √C · gamma[c] (+ bias[c])
//   (torch `F.normalize(x, dim=1) * dim**0.5 * gamma + bias`).
// x,y [C, N...] (any trailing dims, flattened to N); gamma [C] or [C,1,1(,1)]; bias optional, same.
// silu: y = SiLU(that) = v / (1 + e^−v) in the same pass (the VAE's norm → SiLU pairs; one rounding).
// y_padded_cl: x is [C, T, H, W] and y [Tp, Hp, Wp, C] is the padded channels-last input of a following
// conv (Conv3dParams::x_padded_cl): x's frame t, pixel (h, w) lands at y[y_t0 + t, y_top + h, y_left + w, :],
// the other rows and columns of frames [y_t0, y_t0 + T) are set to 0, frames outside them are left as they
// are (the caller fills the zero frames and cached frames in front). On CUDA it needs C % 32 == 0 and
// T·H·W % 8 == 0.
struct ChannelRmsNormParams {
  Tensor x, gamma, bias, y;
  float eps = 1e-12f;
  bool silu = false;
  bool y_padded_cl = false;
  int64_t y_t0 = 0, y_top = 0, y_left = 0;
};
void channel_rms_norm(const ChannelRmsNormParams& p);

// ---------------------------------------------------------------- transpose2d
// y[c, r] = x[r, c]: x [R, C], y [C, R] (switches channel-first maps and token-major rows).
struct Transpose2dParams {
  Tensor x, y;
};
void transpose2d(const Transpose2dParams& p);

}  // namespace tw::ops

// CUDA entries of the ops above (kernels/conv/<op>.cu). Until those land, CUDA builds get stubs that
// throw (kernels/conv/cuda_pending.cpp); CPU-only builds throw "no CUDA backend" for CUDA tensors.
#ifdef TW_CUDA
namespace tw::cuda {
void conv3d(const ops::Conv3dParams& p);
void conv2d(const ops::Conv2dParams& p);
void upsample_nearest(const ops::UpsampleNearestParams& p);
void channel_rms_norm(const ops::ChannelRmsNormParams& p);
void transpose2d(const ops::Transpose2dParams& p);
// Whether conv3d/conv2d's channels-last path (Cin % 32 == 0, Cout % 96 == 0) runs the Hopper
// warpgroup-MMA kernel on this device and build (sm_90 device, sm_90a code, TW_CONV_KERNEL≠mma).
bool conv_wgmma_available();
}  // namespace tw::cuda
#endif
