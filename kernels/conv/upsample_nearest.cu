// upsample_nearest on CUDA: y[..., i, j] = x[..., i / fh, j / fw] (an exact copy). Any 2- or 4-byte
// dtype (BF16 activations on CUDA; F32 accepted). One thread per output element pair-free, grid-stride.
#include <cstdint>

#include "tw/cuda/device.h"
#include "tw/ops_conv.h"

namespace tw::cuda {
namespace {

template <class T>
__global__ void upsample_nearest_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t H, int64_t W,
                                        int64_t fh, int64_t fw) {
  const int64_t Ho = H * fh, Wo = W * fw;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % Wo, r = i / Wo, ii = r % Ho, pl = r / Ho;
    y[i] = x[(pl * H + ii / fh) * W + j / fw];
  }
}

template <class T>
void launch(const ops::UpsampleNearestParams& p) {
  const int64_t total = p.y.numel();
  if (total == 0) return;
  int64_t blocks = (total + 255) / 256;
  if (blocks > 65536 * 4) blocks = 65536 * 4;
  upsample_nearest_kernel<T><<<unsigned(blocks), 256, 0, stream()>>>(static_cast<const T*>(p.x.data), static_cast<T*>(p.y.data), total,
                                                                    p.x.size(-2), p.x.size(-1), p.factor_h, p.factor_w);
  TW_CUDA_CHECK_LAUNCH(upsample_nearest_kernel);
}

}  // namespace

void upsample_nearest(const ops::UpsampleNearestParams& p) {
  const char* op = "upsample_nearest";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.y, op, "y");
  check(p.x.dtype == p.y.dtype, op, "x and y must have one dtype");
  check(p.x.data != p.y.data, op, "y must not alias x");
  const size_t es = dtype_size(p.x.dtype);
  if (es == 2) launch<uint16_t>(p);
  else if (es == 4) launch<uint32_t>(p);
  else check(false, op, std::string("unsupported dtype ") + dtype_name(p.x.dtype));
}

}  // namespace tw::cuda
