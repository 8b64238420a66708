// Exact softmax attention of a small block of queries over a list of key ranges, shared by the
// dense and SLA CPU references. Keys and values are packed per head ([L][d], contiguous) so a key
// row is loaded once for the whole query block. Per output element the arithmetic order is fixed:
// q·k in fp32 (8 lanes), logits·scale, max, exp, sum and Σ p·v in double, keys in range order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tw/cpu_ref.h"

namespace tw::ref {

struct KeyRange {
  int64_t begin, end;  // rows [begin, end) of the packed K/V
};

struct AttendScratch {
  std::vector<double> logits, acc, sum;
};

// o[qi] = softmax_j(q[qi]·k_j·scale) v_j over the keys of `ranges`; q[qi] and o[qi] point at d floats.
inline void attend_block(const float* const* q, float* const* o, int64_t nq, const float* K, const float* V,
                         int64_t d, const KeyRange* ranges, int64_t nranges, double scale, AttendScratch& s) {
  int64_t nk = 0;
  for (int64_t r = 0; r < nranges; ++r) nk += ranges[r].end - ranges[r].begin;
  s.logits.resize(size_t(nq * nk));
  int64_t idx = 0;
  for (int64_t r = 0; r < nranges; ++r)
    for (int64_t j = ranges[r].begin; j < ranges[r].end; ++j, ++idx) {
      const float* kj = K + j * d;
      for (int64_t i = 0; i < nq; ++i) s.logits[size_t(i * nk + idx)] = double(dot8(q[i], kj, d)) * scale;
    }
  s.sum.assign(size_t(nq), 0.0);
  for (int64_t i = 0; i < nq; ++i) {
    double* l = s.logits.data() + i * nk;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < nk; ++j) mx = std::max(mx, l[j]);
    double sum = 0;
    for (int64_t j = 0; j < nk; ++j) { l[j] = std::exp(l[j] - mx); sum += l[j]; }
    s.sum[size_t(i)] = sum;
  }
  s.acc.assign(size_t(nq * d), 0.0);
  idx = 0;
  for (int64_t r = 0; r < nranges; ++r)
    for (int64_t j = ranges[r].begin; j < ranges[r].end; ++j, ++idx) {
      const float* vj = V + j * d;
      for (int64_t i = 0; i < nq; ++i) {
        const double p = s.logits[size_t(i * nk + idx)];
        double* a = s.acc.data() + i * d;
        for (int64_t c = 0; c < d; ++c) a[c] += p * double(vj[c]);
      }
    }
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t c = 0; c < d; ++c) o[i][c] = float(s.acc[size_t(i * d + c)] / s.sum[size_t(i)]);
}

// Copies head h of x [L, heads, d] into a contiguous [L][d] buffer.
inline void pack_head(const float* x, int64_t L, int64_t heads, int64_t d, int64_t h, float* out) {
  for (int64_t j = 0; j < L; ++j)
    for (int64_t c = 0; c < d; ++c) out[j * d + c] = x[(j * heads + h) * d + c];
}

}  // namespace tw::ref
