// Wan's interleaved 3D RoPE on CUDA, in place on x [L, heads, 128] (BF16 or F32). One thread per
// (token, pair): the angle is computed in float64 (sin/cos too, as the reference), rounded to fp32,
// and applied to that pair in every head in fp32.
#include "tw/cuda/device.h"
#include "tw/cuda/dtype.cuh"
#include "tw/ops_cuda.h"

namespace tw::cuda {
namespace {

template <class T>
__global__ void rope3d_kernel(T* x, int64_t L, int64_t heads, int64_t H, int64_t W, double log_theta) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= L * 64) return;
  const int64_t n = idx / 64;
  const int i = int(idx % 64);
  const int64_t t = n / (H * W), h = (n / W) % H, w = n % W;
  int64_t pos;
  int j;
  double dim;
  if (i < 22) { pos = t; j = i; dim = 44.0; }
  else if (i < 43) { pos = h; j = i - 22; dim = 42.0; }
  else { pos = w; j = i - 43; dim = 42.0; }
  const double freq = exp(-log_theta * (2.0 * j) / dim);  // theta^(−2j/dim)
  double s, c;
  sincos(double(pos) * freq, &s, &c);
  const float cf = float(c), sf = float(s);
  T* p = x + n * heads * 128 + 2 * i;
  for (int64_t hd = 0; hd < heads; ++hd, p += 128) {
    const float a = to_f32(p[0]), b = to_f32(p[1]);
    p[0] = from_f32<T>(a * cf - b * sf);
    p[1] = from_f32<T>(a * sf + b * cf);
  }
}

}  // namespace

void rope3d(const ops::Rope3dParams& p) {
  const char* op = "rope3d";
  check_cuda_tensor(p.x, op, "x");
  check(p.x.ndim == 3 && p.x.size(2) == 128, op, "x must be [L, heads, 128], got " + p.x.shape_str());
  const int64_t L = p.x.size(0), heads = p.x.size(1);
  check(p.T * p.H * p.W == L, op, "T·H·W must equal L");
  if (L == 0) return;
  const int64_t n = L * 64;
  const int threads = 256;
  const unsigned blocks = unsigned((n + threads - 1) / threads);
  const double log_theta = std::log(p.theta);
  if (p.x.dtype == DType::BF16)
    rope3d_kernel<__nv_bfloat16><<<blocks, threads, 0, stream()>>>(static_cast<__nv_bfloat16*>(p.x.data), L, heads, p.H, p.W, log_theta);
  else if (p.x.dtype == DType::F32)
    rope3d_kernel<float><<<blocks, threads, 0, stream()>>>(static_cast<float*>(p.x.data), L, heads, p.H, p.W, log_theta);
  else
    check(false, op, std::string("x must be bfloat16 or float32 on CUDA, got ") + dtype_name(p.x.dtype));
  TW_CUDA_CHECK_LAUNCH(rope3d_kernel);
}

}  // namespace tw::cuda
