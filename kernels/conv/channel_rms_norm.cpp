// channel_rms_norm: Wan VAE's RMS_norm, y = F.normalize(x, dim=channel) · √C · gamma (+ bias)
//   = x / max(‖x[:, n]‖₂, eps) · √C · gamma[c] (+ bias[c]), channel-first x [C, N...], optionally
// followed by SiLU. CPU reference: the sum of squares, the product and SiLU in double, one rounding to fp32.
#include <algorithm>
#include <cmath>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops_conv.h"

namespace tw::ops {

void channel_rms_norm(const ChannelRmsNormParams& p) {
  const char* op = "channel_rms_norm";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"gamma", &p.gamma}, {"bias", &p.bias}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.gamma, op, "gamma");
  check_not_empty(p.y, op, "y");
  const int64_t C = p.x.ndim >= 1 ? p.x.size(0) : 0, N = C > 0 ? p.x.numel() / C : 0;
  if (p.y_padded_cl) {
    check(p.x.ndim == 4 && p.y.ndim == 4 && p.y.size(3) == C, op,
          "with y_padded_cl x must be [C, T, H, W] and y [Tp, Hp, Wp, C], got x " + p.x.shape_str() + ", y " + p.y.shape_str());
    check(p.y_t0 >= 0 && p.y_top >= 0 && p.y_left >= 0 && p.y_t0 + p.x.size(1) <= p.y.size(0) &&
              p.y_top + p.x.size(2) <= p.y.size(1) && p.y_left + p.x.size(3) <= p.y.size(2),
          op, "x " + p.x.shape_str() + " at frame " + std::to_string(p.y_t0) + ", row " + std::to_string(p.y_top) + ", column " +
                  std::to_string(p.y_left) + " does not fit in y " + p.y.shape_str());
    check(p.y.data != p.x.data, op, "with y_padded_cl y must not alias x");
  } else {
    check(p.x.ndim >= 1 && p.y.shape_vec() == p.x.shape_vec(), op, "y " + p.y.shape_str() + " must have the shape of x " + p.x.shape_str());
  }
  check(p.gamma.numel() == C, op, "gamma " + p.gamma.shape_str() + " must have C = " + std::to_string(C) + " elements");
  if (!p.bias.empty()) check(p.bias.numel() == C, op, "bias " + p.bias.shape_str() + " must have C elements");
  check(p.eps >= 0.f, op, "eps must be >= 0");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, channel_rms_norm, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  if (p.y_padded_cl) {
    // Reference: the channel-first result, then scattered into the padded channels-last frames.
    std::vector<float> tmp(size_t(C * N));
    ChannelRmsNormParams q = p;
    q.y_padded_cl = false;
    q.y = Tensor::view(tmp.data(), DType::F32, p.x.shape_vec());
    channel_rms_norm(q);
    const int64_t T = p.x.size(1), H = p.x.size(2), W = p.x.size(3), Hp = p.y.size(1), Wp = p.y.size(2);
    float* y = p.y.ptr<float>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t hp = 0; hp < Hp; ++hp)
        for (int64_t wp = 0; wp < Wp; ++wp) {
          const int64_t h = hp - p.y_top, w = wp - p.y_left;
          const bool in = h >= 0 && h < H && w >= 0 && w < W;
          float* dst = y + (((p.y_t0 + t) * Hp + hp) * Wp + wp) * C;
          for (int64_t c = 0; c < C; ++c) dst[c] = in ? tmp[size_t(c * N + (t * H + h) * W + w)] : 0.f;
        }
    return;
  }
  check_float_weight(p.gamma, op, "gamma");
  std::vector<float> gamma(static_cast<size_t>(C)), bias(static_cast<size_t>(C), 0.f);
  ref::load_f32(p.gamma, 0, C, gamma.data());
  if (!p.bias.empty()) { check_float_weight(p.bias, op, "bias"); ref::load_f32(p.bias, 0, C, bias.data()); }
  const double scale = std::sqrt(double(C));
  const float* x = p.x.ptr<float>();
  float* y = p.y.ptr<float>();  // may alias x
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (N + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t bl = 0; bl < blocks; ++bl) {
    const int64_t n0 = bl * kBlock, nb = std::min(kBlock, N - n0);
    double inv[kBlock] = {};
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < nb; ++j) { const double v = x[c * N + n0 + j]; inv[j] += v * v; }
    for (int64_t j = 0; j < nb; ++j) inv[j] = scale / std::max(std::sqrt(inv[j]), double(p.eps));
    for (int64_t c = 0; c < C; ++c) {
      const double g = gamma[size_t(c)], b = bias[size_t(c)];
      for (int64_t j = 0; j < nb; ++j) {
        const double v = double(x[c * N + n0 + j]) * inv[j] * g + b;
        y[c * N + n0 + j] = float(p.silu ? v / (1.0 + std::exp(-v)) : v);
      }
    }
  }
}

}  // namespace tw::ops
