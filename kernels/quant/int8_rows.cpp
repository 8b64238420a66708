// quantize_int8_rows / dequantize_int8_rows: CPU references and entry points (ops_quant.h).
// Everything is elementwise fp32 arithmetic with one rounding per step (max is exact, the quotient
// 127/amax and the products are single IEEE operations), so the CUDA kernels must match bit for bit.
#include <algorithm>
#include <cmath>

#include "tw/cpu_ref.h"
#include "tw/ops_quant.h"

namespace tw::ops {

void quantize_int8_rows(const QuantizeInt8RowsParams& p) {
  const char* op = "quantize_int8_rows";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"q", &p.q}, {"scale", &p.scale}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.q, op, "q");
  check_not_empty(p.scale, op, "scale");
  check(p.x.ndim == 2, op, "x must be 2-D [N, K], got " + p.x.shape_str());
  const int64_t N = p.x.size(0), K = p.x.size(1);
  check_shape(p.q, {N, K}, op, "q");
  check_shape(p.scale, {N}, op, "scale");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.q, op, "q");
  check_contiguous(p.scale, op, "scale");
  check_dtype(p.q, DType::I8, op, "q");
  check_dtype(p.scale, DType::F32, op, "scale");
  check(p.x.dtype == DType::F32 || p.x.dtype == DType::BF16, op,
        std::string("x is ") + dtype_name(p.x.dtype) + ", expected float32 or bfloat16");
  TW_DISPATCH_CUDA(dev, op, quantize_int8_rows, p);
  const bool f32 = p.x.dtype == DType::F32;
  const float* xf = f32 ? p.x.ptr<float>() : nullptr;
  const uint16_t* xb = f32 ? nullptr : p.x.ptr<uint16_t>();
  int8_t* q = p.q.ptr<int8_t>();
  float* scale = p.scale.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    auto get = [&](int64_t k) { return f32 ? xf[n * K + k] : bf16_to_f32(xb[n * K + k]); };
    float amax = 0.f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(get(k)));
    if (amax == 0.f) {  // also keeps 127/0 out of the arithmetic
      scale[n] = 0.f;
      std::fill(q + n * K, q + (n + 1) * K, int8_t(0));
      continue;
    }
    const float mul = 127.f / amax;
    scale[n] = amax / 127.f;
    for (int64_t k = 0; k < K; ++k) q[n * K + k] = ref::sat_rne_s8(get(k) * mul);
  }
}

void dequantize_int8_rows(const DequantizeInt8RowsParams& p) {
  const char* op = "dequantize_int8_rows";
  using namespace detail;
  Device dev = op_device(op, {{"q", &p.q}, {"scale", &p.scale}, {"y", &p.y}});
  check_not_empty(p.q, op, "q");
  check_not_empty(p.scale, op, "scale");
  check_not_empty(p.y, op, "y");
  check(p.q.ndim == 2, op, "q must be 2-D [N, K], got " + p.q.shape_str());
  const int64_t N = p.q.size(0), K = p.q.size(1);
  check_shape(p.scale, {N}, op, "scale");
  check_shape(p.y, {N, K}, op, "y");
  check_contiguous(p.q, op, "q");
  check_contiguous(p.scale, op, "scale");
  check_contiguous(p.y, op, "y");
  check_dtype(p.q, DType::I8, op, "q");
  check_dtype(p.scale, DType::F32, op, "scale");
  check(p.y.dtype == DType::F32 || p.y.dtype == DType::BF16, op,
        std::string("y is ") + dtype_name(p.y.dtype) + ", expected float32 or bfloat16");
  TW_DISPATCH_CUDA(dev, op, dequantize_int8_rows, p);
  const int8_t* q = p.q.ptr<int8_t>();
  const float* scale = p.scale.ptr<float>();
  const bool f32 = p.y.dtype == DType::F32;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const float v = float(q[n * K + k]) * scale[n];
      if (f32) p.y.ptr<float>()[n * K + k] = v;
      else p.y.ptr<uint16_t>()[n * K + k] = f32_to_bf16(v);
    }
}

}  // namespace tw::ops
