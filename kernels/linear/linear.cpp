// linear: y = x · wᵀ + b        (torch.nn.functional.linear(x, w, b) in fp32)
//
// CPU reference. Weights (F32/BF16/F16) are read in place: each task upcasts only the tile of
// weight rows it is working on, never the whole matrix. Accumulation: fp32 products summed in 8
// interleaved fp32 lanes over K chunks of 256, chunk sums accumulated in double, bias added in
// double, one rounding to fp32. The order is fixed per output element (independent of threads).
#include <algorithm>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {
namespace {

constexpr int64_t kRowsX = 16;   // x rows per task
constexpr int64_t kRowsW = 64;   // weight rows per task
constexpr int64_t kChunkK = 256; // K elements per chunk

void linear_cpu(const LinearParams& p) {
  const int64_t M = p.x.size(0), K = p.x.size(1), N = p.w.size(0);
  const float* x = p.x.ptr<float>();
  float* y = p.y.ptr<float>();
  const bool w_f32 = p.w.dtype == DType::F32;
  std::vector<float> bias(static_cast<size_t>(N), 0.f);
  if (!p.b.empty()) ref::load_f32(p.b, 0, N, bias.data());

  const int64_t tiles_m = (M + kRowsX - 1) / kRowsX, tiles_n = (N + kRowsW - 1) / kRowsW;
#pragma omp parallel
  {
    std::vector<float> wbuf(w_f32 ? 0 : size_t(kRowsW * kChunkK));
    std::vector<double> acc(static_cast<size_t>(kRowsX * kRowsW));
#pragma omp for collapse(2) schedule(static)
    for (int64_t tm = 0; tm < tiles_m; ++tm) {
      for (int64_t tn = 0; tn < tiles_n; ++tn) {
        const int64_t m0 = tm * kRowsX, m1 = std::min(M, m0 + kRowsX);
        const int64_t n0 = tn * kRowsW, n1 = std::min(N, n0 + kRowsW);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t k0 = 0; k0 < K; k0 += kChunkK) {
          const int64_t kc = std::min(kChunkK, K - k0);
          if (!w_f32)  // upcast this chunk of the tile's weight rows once, reuse it for all x rows
            for (int64_t n = n0; n < n1; ++n) ref::load_f32(p.w, n * K + k0, kc, wbuf.data() + (n - n0) * kChunkK);
          for (int64_t m = m0; m < m1; ++m) {
            const float* xrow = x + m * K + k0;
            double* a = acc.data() + (m - m0) * kRowsW;
            for (int64_t n = n0; n < n1; ++n) {
              const float* wrow = w_f32 ? p.w.ptr<float>() + n * K + k0 : wbuf.data() + (n - n0) * kChunkK;
              a[n - n0] += double(ref::dot8(xrow, wrow, kc));
            }
          }
        }
        for (int64_t m = m0; m < m1; ++m)
          for (int64_t n = n0; n < n1; ++n)
            y[m * N + n] = float(acc[size_t((m - m0) * kRowsW + (n - n0))] + double(bias[size_t(n)]));
      }
    }
  }
}

}  // namespace

void linear(const LinearParams& p) {
  const char* op = "linear";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"w", &p.w}, {"b", &p.b}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.w, op, "w");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 2, op, "x must be 2-D [M, K], got " + p.x.shape_str());
  const int64_t M = p.x.size(0), K = p.x.size(1);
  check_shape(p.w, {-1, K}, op, "w");
  const int64_t N = p.w.size(0);
  check_shape(p.y, {M, N}, op, "y");
  if (!p.b.empty()) check_shape(p.b, {N}, op, "b");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.w, op, "w");
  check_contiguous(p.y, op, "y");
  TW_DISPATCH_CUDA(dev, op, linear, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  check_float_weight(p.w, op, "w");
  if (!p.b.empty()) check_float_weight(p.b, op, "b");
  check(p.x.data != p.y.data, op, "y must not alias x");
  linear_cpu(p);
}

}  // namespace tw::ops
