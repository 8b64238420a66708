// upsample_nearest: y[..., i, j] = x[..., i / fh, j / fw]
//   (torch `nn.Upsample(scale_factor=(fh, fw), mode="nearest-exact")`; exact copy, no arithmetic).
#include "tw/cpu_ref.h"
#include "tw/ops_conv.h"

namespace tw::ops {

void upsample_nearest(const UpsampleNearestParams& p) {
  const char* op = "upsample_nearest";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim >= 2 && p.y.ndim == p.x.ndim, op, "x and y must have the same rank >= 2, got " + p.x.shape_str() + " and " + p.y.shape_str());
  check(p.factor_h >= 1 && p.factor_w >= 1, op, "factors must be >= 1");
  std::vector<int64_t> expect = p.x.shape_vec();
  expect[expect.size() - 2] *= p.factor_h;
  expect[expect.size() - 1] *= p.factor_w;
  check(p.y.shape_vec() == expect, op, "y has shape " + p.y.shape_str() + ", expected x " + p.x.shape_str() + " upsampled");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, upsample_nearest, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  const int64_t H = p.x.size(-2), W = p.x.size(-1), planes = p.x.numel() / (H * W);
  const int64_t Ho = H * p.factor_h, Wo = W * p.factor_w;
  const float* x = p.x.ptr<float>();
  float* y = p.y.ptr<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t i = 0; i < Ho; ++i) {
      const float* xr = x + (pl * H + i / p.factor_h) * W;
      float* yr = y + (pl * Ho + i) * Wo;
      for (int64_t j = 0; j < Wo; ++j) yr[j] = xr[j / p.factor_w];
    }
  }
}

}  // namespace tw::ops
