// transpose2d on CUDA: y[c, r] = x[r, c] (exact copy) through a padded 32×32 shared tile, coalesced on
// both sides. Any 2- or 4-byte dtype. launch_transpose2d also serves strided views (the per-head V
// of attention_rel_bias).
#include <cstdint>

#include "tw/cuda/device.h"
#include "tw/ops_conv.h"

namespace tw::cuda {
namespace {

template <class T>
__global__ void transpose2d_kernel(const T* __restrict__ x, int64_t ldx, T* __restrict__ y, int64_t ldy, int64_t R, int64_t C) {
  __shared__ T tile[32][33];
  const int64_t r0 = int64_t(blockIdx.y) * 32, c0 = int64_t(blockIdx.x) * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t r = r0 + i, c = c0 + threadIdx.x;
    if (r < R && c < C) tile[i][threadIdx.x] = x[r * ldx + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t c = c0 + i, r = r0 + threadIdx.x;
    if (r < R && c < C) y[c * ldy + r] = tile[threadIdx.x][i];
  }
}

template <class T>
void launch_t(const void* x, int64_t ldx, void* y, int64_t ldy, int64_t R, int64_t C) {
  if (R == 0 || C == 0) return;
  check(R <= int64_t(65535) * 32, "transpose2d", "too many rows for one launch");
  const dim3 grid(unsigned((C + 31) / 32), unsigned((R + 31) / 32)), block(32, 8);
  transpose2d_kernel<T><<<grid, block, 0, stream()>>>(static_cast<const T*>(x), ldx, static_cast<T*>(y), ldy, R, C);
  TW_CUDA_CHECK_LAUNCH(transpose2d_kernel);
}

}  // namespace

// y[c·ldy + r] = x[r·ldx + c] for r < R, c < C; elem_bytes 2 or 4.
void launch_transpose2d(const void* x, int64_t ldx, void* y, int64_t ldy, int64_t R, int64_t C, size_t elem_bytes) {
  if (elem_bytes == 2) launch_t<uint16_t>(x, ldx, y, ldy, R, C);
  else if (elem_bytes == 4) launch_t<uint32_t>(x, ldx, y, ldy, R, C);
  else throw Error("transpose2d: unsupported element size " + std::to_string(elem_bytes));
}

void transpose2d(const ops::Transpose2dParams& p) {
  const char* op = "transpose2d";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.y, op, "y");
  check(p.x.dtype == p.y.dtype, op, "x and y must have one dtype");
  check(p.x.data != p.y.data, op, "y must not alias x");
  const int64_t R = p.x.size(0), C = p.x.size(1);
  launch_transpose2d(p.x.data, C, p.y.data, R, R, C, dtype_size(p.x.dtype));
}

}  // namespace tw::cuda
