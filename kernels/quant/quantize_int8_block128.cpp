// quantize_int8_block128: TurboDiffusion's block-int8 quantizer (facts §3; TD ops/quant/quant.hpp).
// Per 128×128 tile: amax = max(1e-8, max|x|) in fp32, q = sat_s8(rne(x · (128/amax))) — the
// multiplier is the fp32 quotient 128/amax, as the kernel computes it — and scale = amax/128.
// Elements outside the matrix count as 0 (they cannot raise amax above the 1e-8 floor).
// PyTorch equivalent per tile: s = (x.abs().amax().clamp_min(1e-8)); q = (x * (128/s)).round().clamp(-128, 127)
#include <algorithm>
#include <cmath>

#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {
namespace detail {

// Quantizes tile (bm, bk) of an [M, K] matrix read through `get(m, k)`.
template <class Get>
float quantize_tile128(Get get, int64_t M, int64_t K, int64_t bm, int64_t bk, int8_t* q) {
  const int64_t m0 = bm * 128, m1 = std::min(M, m0 + 128), k0 = bk * 128, k1 = std::min(K, k0 + 128);
  float amax = 1e-8f;
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(get(m, k)));
  const float mul = 128.f / amax;
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t k = k0; k < k1; ++k) q[m * K + k] = ref::sat_rne_s8(get(m, k) * mul);
  return amax / 128.f;
}

}  // namespace detail

void quantize_int8_block128(const QuantizeInt8Params& p) {
  const char* op = "quantize_int8_block128";
  using namespace detail;
  Device dev = op_device(op, {{"x", &p.x}, {"q", &p.q}, {"scale", &p.scale}});
  check_not_empty(p.x, op, "x");
  check_not_empty(p.q, op, "q");
  check_not_empty(p.scale, op, "scale");
  check(p.x.ndim == 2, op, "x must be 2-D [M, K], got " + p.x.shape_str());
  const int64_t M = p.x.size(0), K = p.x.size(1), MB = (M + 127) / 128, KB = (K + 127) / 128;
  check_shape(p.q, {M, K}, op, "q");
  check_shape(p.scale, {MB, KB}, op, "scale");
  check_contiguous(p.x, op, "x");
  check_contiguous(p.q, op, "q");
  check_contiguous(p.scale, op, "scale");
  check_dtype(p.q, DType::I8, op, "q");
  check_dtype(p.scale, DType::F32, op, "scale");
  TW_DISPATCH_CUDA(dev, op, quantize_int8_block128, p);
  check(p.x.dtype == DType::F32 || p.x.dtype == DType::BF16, op,
        std::string("x is ") + dtype_name(p.x.dtype) + ", expected float32 or bfloat16");
  int8_t* q = p.q.ptr<int8_t>();
  float* scale = p.scale.ptr<float>();
  const bool f32 = p.x.dtype == DType::F32;
  const float* xf = f32 ? p.x.ptr<float>() : nullptr;
  const uint16_t* xb = f32 ? nullptr : p.x.ptr<uint16_t>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bm = 0; bm < MB; ++bm)
    for (int64_t bk = 0; bk < KB; ++bk) {
      if (f32)
        scale[bm * KB + bk] = quantize_tile128([&](int64_t m, int64_t k) { return xf[m * K + k]; }, M, K, bm, bk, q);
      else
        scale[bm * KB + bk] =
            quantize_tile128([&](int64_t m, int64_t k) { return bf16_to_f32(xb[m * K + k]); }, M, K, bm, bk, q);
    }
}

}  // namespace tw::ops
