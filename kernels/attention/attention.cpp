// attention: dense softmax attention per head, o = softmax(q·kᵀ·scale)·v
//   (torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=scale) in fp32, layout [L, heads, d]).
// CPU reference: q·k in fp32 (8 fixed lanes), logits scaled in double, softmax (max, exp, sum) and
// the P·V accumulation in double, one rounding to fp32. Lq and Lk may differ (cross-attention).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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
  const float* k = p.k.ptr<float>();
  const float* v = p.v.ptr<float>();
  float* o = p.o.ptr<float>();
  const int64_t row = heads * d;  // stride between tokens
#pragma omp parallel
  {
    std::vector<double> prob(static_cast<size_t>(Lk)), acc(static_cast<size_t>(d));
#pragma omp for collapse(2) schedule(static)
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < Lq; ++i) {
        const float* qi = q + i * row + h * d;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < Lk; ++j) {
          const double s = double(ref::dot8(qi, k + j * row + h * d, d)) * scale;
          prob[size_t(j)] = s;
          mx = std::max(mx, s);
        }
        double sum = 0;
        for (int64_t j = 0; j < Lk; ++j) { prob[size_t(j)] = std::exp(prob[size_t(j)] - mx); sum += prob[size_t(j)]; }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < Lk; ++j) {
          const double pj = prob[size_t(j)];
          const float* vj = v + j * row + h * d;
          for (int64_t c = 0; c < d; ++c) acc[size_t(c)] += pj * double(vj[c]);
        }
        float* oi = o + i * row + h * d;
        for (int64_t c = 0; c < d; ++c) oi[c] = float(acc[size_t(c)] / sum);
      }
    }
  }
}

}  // namespace tw::ops
