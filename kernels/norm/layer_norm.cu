// LayerNorm over the last dim on CUDA: one CTA per row, fp32 statistics (two-pass: mean, then
// centred variance, as the CPU reference), x/y BF16 or F32, optional affine w/b of any float dtype.
// Rows whose length is a multiple of 256 (1536, 5120) keep the row in registers, 8 per thread.
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "../elementwise/elementwise.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

constexpr int kThreads = 256;

template <class TI, class TO>
__global__ void layer_norm_kernel(const TI* __restrict__ x, TO* __restrict__ y, AnyFloatPtr w, AnyFloatPtr b,
                                  int64_t D, float eps) {
  __shared__ float red[32];
  const TI* xr = x + int64_t(blockIdx.x) * D;
  TO* yr = y + int64_t(blockIdx.x) * D;
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < D; c += kThreads) s += to_f32(xr[c]);
  const float mean = block_sum(s, red) / float(D);
  float v = 0.f;
  for (int64_t c = threadIdx.x; c < D; c += kThreads) { float d = to_f32(xr[c]) - mean; v += d * d; }
  const float rstd = rsqrtf(block_sum(v, red) / float(D) + eps);
  for (int64_t c = threadIdx.x; c < D; c += kThreads) {
    float o = (to_f32(xr[c]) - mean) * rstd;
    if (w.p) o *= w.load(c);
    if (b.p) o += b.load(c);
    yr[c] = from_f32<TO>(o);
  }
}

// One thread per 8 consecutive elements of the row, held in registers: x is read once.
template <class TI, class TO>
__global__ void layer_norm_vec8_kernel(const TI* __restrict__ x, TO* __restrict__ y, AnyFloatPtr w, AnyFloatPtr b, int64_t D,
                                       float eps) {
  __shared__ float red[32];
  const int64_t off = int64_t(blockIdx.x) * D + threadIdx.x * 8;
  float v[8];
  load8(x + off, v);
  float s = 0.f;
#pragma unroll
  for (int e = 0; e < 8; ++e) s += v[e];
  const float mean = block_sum(s, red) / float(D);
  float q = 0.f;
#pragma unroll
  for (int e = 0; e < 8; ++e) { v[e] -= mean; q += v[e] * v[e]; }
  const float rstd = rsqrtf(block_sum(q, red) / float(D) + eps);
  const int64_t c0 = int64_t(threadIdx.x) * 8;
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    float o = v[e] * rstd;
    if (w.p) o *= w.load(c0 + e);
    if (b.p) o += b.load(c0 + e);
    v[e] = o;
  }
  store8(y + off, v);
}

template <class TI, class TO>
void launch(const ops::LayerNormParams& p, int64_t rows, int64_t D) {
  const int vec_threads = int(D / 8);
  if (D % 8 == 0 && vec_threads % 32 == 0 && vec_threads <= 1024 && aligned16(p.x.data) && aligned16(p.y.data)) {
    layer_norm_vec8_kernel<TI, TO><<<unsigned(rows), vec_threads, 0, stream()>>>(
        static_cast<const TI*>(p.x.data), static_cast<TO*>(p.y.data), AnyFloatPtr::of(p.w), AnyFloatPtr::of(p.b), D, p.eps);
    TW_CUDA_CHECK_LAUNCH(layer_norm_vec8_kernel);
    return;
  }
  layer_norm_kernel<TI, TO><<<unsigned(rows), kThreads, 0, stream()>>>(
      static_cast<const TI*>(p.x.data), static_cast<TO*>(p.y.data), AnyFloatPtr::of(p.w), AnyFloatPtr::of(p.b), D, p.eps);
  TW_CUDA_CHECK_LAUNCH(layer_norm_kernel);
}

}  // namespace

void layer_norm(const ops::LayerNormParams& p) {
  const char* op = "layer_norm";
  check_cuda_tensor(p.x, op, "x");
  check_cuda_tensor(p.y, op, "y");
  check(p.x.numel() == p.y.numel() && p.x.ndim >= 1, op, "x and y must have the same shape");
  const int64_t D = p.x.size(-1), rows = p.x.numel() / D;
  if (!p.w.empty()) { check_cuda_tensor(p.w, op, "w"); check_float_dtype(p.w, op, "w"); check(p.w.numel() == D, op, "w must have D elements"); }
  if (!p.b.empty()) { check_cuda_tensor(p.b, op, "b"); check_float_dtype(p.b, op, "b"); check(p.b.numel() == D, op, "b must have D elements"); }
  if (rows == 0) return;
  using bf = __nv_bfloat16;
  const DType xi = p.x.dtype, yo = p.y.dtype;
  if (xi == DType::BF16 && yo == DType::BF16) launch<bf, bf>(p, rows, D);
  else if (xi == DType::F32 && yo == DType::BF16) launch<float, bf>(p, rows, D);
  else if (xi == DType::BF16 && yo == DType::F32) launch<bf, float>(p, rows, D);
  else if (xi == DType::F32 && yo == DType::F32) launch<float, float>(p, rows, D);
  else check(false, op, std::string("x/y must be bfloat16 or float32, got ") + dtype_name(xi) + "/" + dtype_name(yo));
}

}  // namespace tw::cuda
