// linear_int8: TurboDiffusion's W8A8 Int8Linear (facts §3; TD ops/core.py int8_linear, ops/gemm/*).
// PyTorch expression it mirrors (TD Int8Linear.forward with bf16 activations):
//   xq, xs = int8_quant(x.bfloat16()); y = zeros_bf16; gemm_cuda(xq, xs, w_q, w_s, y); out = y + bias
// with, per output element, acc = 0; for kb in 0..K/128-1:
//   acc = fmaf(float(Σ_{k∈kb} xq·wq), xs[m/128,kb]·ws[n/128,kb], acc)      (nvcc contracts to FMA)
// y = bf16(acc); out = bf16(y + bias). The int32 partial sums are exact (|Σ| ≤ 2^21).
#include <algorithm>
#include <cmath>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {
namespace {

inline int32_t dot_s8(const int8_t* a, const int8_t* b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += int32_t(a[i]) * int32_t(b[i]);
  return s;
}

void linear_int8_cpu(const LinearInt8Params& p) {
  const int64_t M = p.x.size(0), K = p.x.size(1), N = p.w_q.size(0);
  const int64_t MB = (M + 127) / 128, KB = K / 128;
  const float* x = p.x.ptr<float>();
  const int8_t* wq = p.w_q.ptr<int8_t>();
  const float* ws = p.w_scale.ptr<float>();

  // Activation quantization on bf16-rounded x, one scale per 128 rows × 128 columns.
  std::vector<int8_t> xq(static_cast<size_t>(M * K));
  std::vector<float> xs(static_cast<size_t>(MB * KB));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bm = 0; bm < MB; ++bm)
    for (int64_t bk = 0; bk < KB; ++bk) {
      const int64_t m0 = bm * 128, m1 = std::min(M, m0 + 128), k0 = bk * 128;
      float amax = 1e-8f;
      for (int64_t m = m0; m < m1; ++m)
        for (int64_t k = k0; k < k0 + 128; ++k) amax = std::max(amax, std::fabs(round_bf16(x[m * K + k])));
      const float mul = 128.f / amax;
      for (int64_t m = m0; m < m1; ++m)
        for (int64_t k = k0; k < k0 + 128; ++k) xq[size_t(m * K + k)] = ref::sat_rne_s8(round_bf16(x[m * K + k]) * mul);
      xs[size_t(bm * KB + bk)] = amax / 128.f;
    }

  std::vector<float> bias(static_cast<size_t>(N), 0.f);
  const bool has_bias = !p.b.empty();
  if (has_bias) ref::load_f32(p.b, 0, N, bias.data());
  float* y = p.y.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    const int8_t* xr = xq.data() + m * K;
    const float* sx = xs.data() + (m / 128) * KB;
    for (int64_t n = 0; n < N; ++n) {
      const int8_t* wr = wq + n * K;
      const float* sw = ws + (n / 128) * KB;
      float acc = 0.f;
      for (int64_t kb = 0; kb < KB; ++kb) {
        const int32_t part = dot_s8(xr + kb * 128, wr + kb * 128, 128);
        acc = std::fmaf(float(part), sx[kb] * sw[kb], acc);
      }
      float out = round_bf16(acc);
      if (has_bias) out = round_bf16(out + bias[size_t(n)]);
      y[m * N + n] = out;
    }
  }
}

}  // namespace

void linear_int8(const LinearInt8Params& p) {
  const char* op = "linear_int8";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"w_q", &p.w_q}, {"w_scale", &p.w_scale}, {"b", &p.b}, {"y", &p.y}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.w_q, op, "w_q");
  check_not_empty(p.w_scale, op, "w_scale");
  check_not_empty(p.y, op, "y");
  check(p.x.ndim == 2, op, "x must be 2-D [M, K], got " + p.x.shape_str());
  const int64_t M = p.x.size(0), K = p.x.size(1);
  check(K % 128 == 0, op, "K = " + std::to_string(K) + " (x's last dim) must be a multiple of 128");
  check_shape(p.w_q, {-1, K}, op, "w_q");
  const int64_t N = p.w_q.size(0);
  check_shape(p.w_scale, {(N + 127) / 128, K / 128}, op, "w_scale");
  check_shape(p.y, {M, N}, op, "y");
  if (!p.b.empty()) check_shape(p.b, {N}, op, "b");
  check_dtype(p.w_q, DType::I8, op, "w_q");
  check_dtype(p.w_scale, DType::F32, op, "w_scale");
  for (auto a : {Arg{"x", &p.x}, Arg{"w_q", &p.w_q}, Arg{"w_scale", &p.w_scale}, Arg{"y", &p.y}})
    check_contiguous(*a.t, op, a.name);
  TW_DISPATCH_CUDA(dev, op, linear_int8, p);
  check_dtype(p.x, DType::F32, op, "x");
  check_dtype(p.y, DType::F32, op, "y");
  if (!p.b.empty()) {
    check(p.b.dtype == DType::BF16 || p.b.dtype == DType::F32, op,
          std::string("b is ") + dtype_name(p.b.dtype) + ", expected bfloat16 or float32");
    check_contiguous(p.b, op, "b");
  }
  check(p.x.data != p.y.data, op, "y must not alias x");
  linear_int8_cpu(p);
}

}  // namespace tw::ops
