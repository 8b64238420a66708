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
  check(p.x.ndim >= 1 && p.y.shape_vec() == p.x.shape_vec(), op, "y " + p.y.shape_str() + " must have the shape of x " + p.x.shape_str());
  const int64_t C = p.x.size(0), N = C > 0 ? p.x.numel() / C : 0;
  check(p.gamma.numel() == C, op, "gamma " + p.gamma.shape_str() + " must have C = " + std::to_string(C) + " elements");
  if (!p.bias.empty()) check(p.bias.numel() == C, op, "bias " + p.bias.shape_str() + " must have C elements");
  check(p.eps >= 0.f, op, "eps must be >= 0");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, channel_rms_norm, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
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
