// attention: dense softmax attention per head, o = softmax(q·kᵀ·scale)·v
//   (torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=scale) in fp32, layout [L, heads, d]).
// CPU reference: q·k in fp32 (8 fixed lanes), logits scaled in double, softmax (max, exp, sum) and
// the P·V accumulation in double, one rounding to fp32. Lq and Lk may differ (cross-attention).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attend_ref.h"
#include "tw/cpu_ref.h"
#include "tw/ops.h"

namespace tw::ops {

void attention(const AttentionParams& p) {
  const char* op = "attention";
  using namespace detail;
  Device dev = op_device(op, {{"q", &p.q}, {"k", &p.k}, {"v", &p.v}, {"o", &p.o}});
  for (auto a : {Arg{"q", &p.q}, Arg{"k", &p.k}, Arg{"v", &p.v}, Arg{"o", &p.o}}) {
    check_not_empty(*a.t, op, a.name);
    check(a.t->ndim == 3, op, std::string(a.name) + " must be 3-D [L, heads, d], got " + a.t->shape_str());
    check_contiguous(*a.t, op, a.name);
  }
  const int64_t Lq = p.q.size(0), heads = p.q.size(1), d = p.q.size(2), Lk = p.k.size(0);
  check(Lq > 0 && Lk > 0 && d > 0 && heads > 0, op, "empty dims in q " + p.q.shape_str() + " / k " + p.k.shape_str());
  check_shape(p.k, {Lk, heads, d}, op, "k");
  check_shape(p.v, {Lk, heads, d}, op, "v");
  check_shape(p.o, {Lq, heads, d}, op, "o");
  check(std::isfinite(p.scale) && p.scale >= 0.f, op, "scale must be finite and >= 0 (0 selects 1/sqrt(d))");
  TW_DISPATCH_CUDA(dev, op, attention, p);
  for (auto a : {Arg{"q", &p.q}, Arg{"k", &p.k}, Arg{"v", &p.v}, Arg{"o", &p.o}}) check_dtype(*a.t, DType::F32, op, a.name);
  check(p.o.data != p.q.data && p.o.data != p.k.data && p.o.data != p.v.data, op, "o must not alias q, k or v");

  const double scale = p.scale > 0.f ? double(p.scale) : double(float(1.0 / std::sqrt(double(d))));
  const float* q = p.q.ptr<float>();
  float* o = p.o.ptr<float>();
  // K and V packed per head so each key row is read once per block of queries.
  std::vector<float> kp(static_cast<size_t>(heads * Lk * d)), vp(kp.size());
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < heads; ++h) {
    ref::pack_head(p.k.ptr<float>(), Lk, heads, d, h, kp.data() + h * Lk * d);
    ref::pack_head(p.v.ptr<float>(), Lk, heads, d, h, vp.data() + h * Lk * d);
  }
  constexpr int64_t kQueries = 16;
  const int64_t qblocks = (Lq + kQueries - 1) / kQueries;
  const ref::KeyRange all{0, Lk};
#pragma omp parallel
  {
    ref::AttendScratch scratch;
    const float* qs[kQueries];
    float* os[kQueries];
#pragma omp for collapse(2) schedule(static)
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t b = 0; b < qblocks; ++b) {
        const int64_t i0 = b * kQueries, n = std::min(kQueries, Lq - i0);
        for (int64_t i = 0; i < n; ++i) {
          qs[i] = q + ((i0 + i) * heads + h) * d;
          os[i] = o + ((i0 + i) * heads + h) * d;
        }
        ref::attend_block(qs, os, n, kp.data() + h * Lk * d, vp.data() + h * Lk * d, d, &all, 1, scale, scratch);
      }
    }
  }
}

}  // namespace tw::ops
