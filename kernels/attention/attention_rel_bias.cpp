// attention_rel_bias: o = softmax(scale·q·kᵀ + rel_bias[h, j − i + Lq − 1], masked keys excluded) · v
//   (T5Attention in wan/modules/t5.py: einsum('binc,bjnc->bnij') + position bias, masked_fill of pad
//   keys with finfo.min, fp32 softmax, einsum with v). Masked logits there become exp(min − max) = 0
//   exactly, so excluding the keys is the same math.
// CPU reference: q·k in fp32 (8 fixed lanes), bias added and softmax + P·V accumulated in double,
// one rounding to fp32.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tw/cpu_ref.h"
#include "tw/ops_extra.h"

namespace tw::ops {

void attention_rel_bias(const AttentionRelBiasParams& p) {
  const char* op = "attention_rel_bias";
  using namespace detail;
  Device dev = op_device(op, {{"q", &p.q}, {"k", &p.k}, {"v", &p.v}, {"o", &p.o}, {"rel_bias", &p.rel_bias}, {"key_mask", &p.key_mask}});
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
  if (!p.rel_bias.empty()) { check_shape(p.rel_bias, {heads, Lq + Lk - 1}, op, "rel_bias"); check_contiguous(p.rel_bias, op, "rel_bias"); }
  if (!p.key_mask.empty()) { check_shape(p.key_mask, {Lk}, op, "key_mask"); check_dtype(p.key_mask, DType::I32, op, "key_mask"); }
  check(std::isfinite(p.scale), op, "scale must be finite");
  TW_DISPATCH_CUDA(dev, op, attention_rel_bias, p);
  for (auto a : {Arg{"q", &p.q}, Arg{"k", &p.k}, Arg{"v", &p.v}, Arg{"o", &p.o}}) check_dtype(*a.t, DType::F32, op, a.name);
  if (!p.rel_bias.empty()) check_dtype(p.rel_bias, DType::F32, op, "rel_bias");
  check(p.o.data != p.q.data && p.o.data != p.k.data && p.o.data != p.v.data, op, "o must not alias q, k or v");
  const int32_t* mask = p.key_mask.empty() ? nullptr : p.key_mask.ptr<int32_t>();
  if (mask) check(std::any_of(mask, mask + Lk, [](int32_t m) { return m != 0; }), op, "key_mask masks every key");

  const double scale = p.scale;
  const float* q = p.q.ptr<float>();
  const float* k = p.k.ptr<float>();
  const float* v = p.v.ptr<float>();
  const float* bias = p.rel_bias.empty() ? nullptr : p.rel_bias.ptr<float>();
  float* o = p.o.ptr<float>();
  const int64_t row = heads * d, nb = Lq + Lk - 1;
#pragma omp parallel
  {
    std::vector<double> prob(static_cast<size_t>(Lk)), acc(static_cast<size_t>(d));
#pragma omp for collapse(2) schedule(static)
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < Lq; ++i) {
        const float* qi = q + i * row + h * d;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < Lk; ++j) {
          if (mask && mask[j] == 0) continue;
          double s = double(ref::dot8(qi, k + j * row + h * d, d)) * scale;
          if (bias) s += double(bias[h * nb + (j - i + Lq - 1)]);
          prob[size_t(j)] = s;
          mx = std::max(mx, s);
        }
        double sum = 0;
        for (int64_t j = 0; j < Lk; ++j) {
          if (mask && mask[j] == 0) { prob[size_t(j)] = 0; continue; }
          prob[size_t(j)] = std::exp(prob[size_t(j)] - mx);
          sum += prob[size_t(j)];
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < Lk; ++j) {
          const double pj = prob[size_t(j)];
          if (pj == 0) continue;
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
