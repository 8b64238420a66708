// to_rgb8 on CUDA: one thread per pixel reads its three planes (coalesced along the pixel index)
// and writes 3 bytes. The arithmetic is the CPU reference's, spelled with _rn intrinsics so nvcc
// cannot contract it into a fused multiply-add: both backends produce the same bytes.
#include <cuda_bf16.h>

#include <algorithm>

#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_video.h"

namespace tw::cuda {
namespace {

__device__ __forceinline__ uint8_t to_u8(float v) {
  v = v < -1.f ? -1.f : (v > 1.f ? 1.f : v);
  return uint8_t(int(__fadd_rn(__fmul_rn(__fmul_rn(__fadd_rn(v, 1.f), 0.5f), 255.f), 0.5f)));
}

template <class T>
__global__ void to_rgb8_kernel(const T* x, uint8_t* y, int64_t plane, int64_t pixels) {
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < pixels; p += int64_t(gridDim.x) * blockDim.x) {
    y[p * 3 + 0] = to_u8(to_f32(x[p]));
    y[p * 3 + 1] = to_u8(to_f32(x[plane + p]));
    y[p * 3 + 2] = to_u8(to_f32(x[2 * plane + p]));
  }
}

}  // namespace

void to_rgb8(const ops::ToRgb8Params& p) {
  // [3, n, H, W] → channel c of pixel (f, i) at c·n·HW + f·HW + i: each plane is n·HW contiguous values.
  const int64_t plane = p.x.size(1) * p.x.size(2) * p.x.size(3);
  const unsigned blocks = unsigned(std::min<int64_t>((plane + 255) / 256, 65536));
  if (p.x.dtype == DType::BF16)
    to_rgb8_kernel<<<blocks, 256, 0, stream()>>>(p.x.ptr<__nv_bfloat16>(), p.y.ptr<uint8_t>(), plane, plane);
  else if (p.x.dtype == DType::F32)
    to_rgb8_kernel<<<blocks, 256, 0, stream()>>>(p.x.ptr<float>(), p.y.ptr<uint8_t>(), plane, plane);
  else
    throw Error(std::string("to_rgb8: x must be F32 or BF16 on CUDA; got ") + dtype_name(p.x.dtype));
  TW_CUDA_CHECK(cudaGetLastError());
}

}  // namespace tw::cuda
