// upsample_nearest on CUDA: y[..., i, j] = x[..., i / fh, j / fw] (an exact copy). Any 2- or 4-byte
// dtype (BF16 activations on CUDA; F32 accepted): one thread per output element, or, for the VAE's ×2×2 on
// bf16 rows of a multiple of 4, 16-byte stores (the element-wise form ran at ~0.5 TB/s).
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

// ×2×2 on 2-byte elements, W % 4 == 0: each thread reads 4 inputs (8 bytes) of one row and writes the
// 8 duplicated values to both output rows (two 16-byte stores).
__global__ void upsample2x2_u16x4_kernel(const uint2* __restrict__ x, uint4* __restrict__ y, int64_t rows, int64_t W4) {
  const int64_t total = rows * W4;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / W4, j = i - r * W4;  // input row r (plane·H + h), 4-element group j
    const uint2 v = x[i];
    const uint4 o = make_uint4(__byte_perm(v.x, v.x, 0x1010), __byte_perm(v.x, v.x, 0x3232), __byte_perm(v.y, v.y, 0x1010),
                               __byte_perm(v.y, v.y, 0x3232));
    uint4* out = y + (2 * r) * W4 + j;  // output rows 2r, 2r + 1 (plane·2H + 2h = 2(plane·H + h)), W4 uint4 each
    out[0] = o;
    out[W4] = o;
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
  const int64_t W = p.x.size(-1);
  if (es == 2 && p.factor_h == 2 && p.factor_w == 2 && W % 4 == 0 && reinterpret_cast<uintptr_t>(p.x.data) % 8 == 0 &&
      reinterpret_cast<uintptr_t>(p.y.data) % 16 == 0) {
    const int64_t rows = p.x.numel() / W, W4 = W / 4, total = rows * W4;
    if (total == 0) return;
    int64_t blocks = (total + 255) / 256;
    if (blocks > 65536 * 4) blocks = 65536 * 4;
    upsample2x2_u16x4_kernel<<<unsigned(blocks), 256, 0, stream()>>>(static_cast<const uint2*>(p.x.data), static_cast<uint4*>(p.y.data), rows, W4);
    TW_CUDA_CHECK_LAUNCH(upsample2x2_u16x4_kernel);
    return;
  }
  if (es == 2) launch<uint16_t>(p);
  else if (es == 4) launch<uint32_t>(p);
  else check(false, op, std::string("unsupported dtype ") + dtype_name(p.x.dtype));
}

}  // namespace tw::cuda
