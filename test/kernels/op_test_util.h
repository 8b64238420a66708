// Shared helpers of the op tests (test/kernels/**): host tensors from vectors, guarded outputs,
// error metrics, and golden tensors read from test/fixtures/ops/*.safetensors (written by
// scripts/golden/make_op_goldens.py from PyTorch and the reference repositories).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "loader/checkpoint.h"
#include "tw/ops.h"
#include "tw/tensor.h"
#include "tw_test.h"

namespace optest {

using tw::DType;
using tw::Tensor;

inline Tensor view(std::vector<float>& v, const std::vector<int64_t>& shape) {
  return Tensor::view(v.data(), DType::F32, shape);
}

// An F32 output with NaN-filled guard elements on both sides; check() fails if the op wrote past its view.
struct Guarded {
  static constexpr int64_t kGuard = 64;
  std::vector<float> buf;
  std::vector<int64_t> shape;
  explicit Guarded(const std::vector<int64_t>& s, float fill = 12345.f) : shape(s) {
    int64_t n = 1;
    for (auto d : s) n *= d;
    buf.assign(size_t(n + 2 * kGuard), fill);
    for (int64_t i = 0; i < kGuard; ++i) { buf[size_t(i)] = -777.f; buf[buf.size() - 1 - size_t(i)] = -777.f; }
  }
  Tensor t() { return Tensor::view(buf.data() + kGuard, DType::F32, shape); }
  float* data() { return buf.data() + kGuard; }
  size_t size() const { return buf.size() - 2 * kGuard; }
  std::vector<float> values() const { return std::vector<float>(buf.begin() + kGuard, buf.end() - kGuard); }
  bool guards_intact() const {
    for (int64_t i = 0; i < kGuard; ++i)
      if (buf[size_t(i)] != -777.f || buf[buf.size() - 1 - size_t(i)] != -777.f) return false;
    return true;
  }
};

inline bool all_finite(const std::vector<float>& v) {
  for (float x : v) if (!std::isfinite(x)) return false;
  return true;
}

inline double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  if (a.size() != ref.size()) return INFINITY;
  return twtest::rel_l2(a.data(), ref.data(), a.size());
}

inline double rel_l2(const std::vector<float>& a, const std::vector<double>& ref) {
  if (a.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(ref[i])) return INFINITY;
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1e-300));
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  }
  return m;
}

inline std::vector<float> arange(size_t n, float start = 0.f, float step = 1.f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * float(i);
  return v;
}

inline std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = tw::f32_to_bf16(v[i]);
  return r;
}

inline std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = tw::f32_to_f16(v[i]);
  return r;
}

// ---- goldens
inline std::string fixture(const std::string& op) { return "test/fixtures/ops/" + op + ".safetensors"; }

struct Golden {
  tw::loader::Checkpoint ck;
  explicit Golden(const std::string& op) : ck(tw::loader::Checkpoint::open(fixture(op))) {}
  Tensor raw(const std::string& name) const { return ck.tensor(name); }
  // Any float tensor as an f32 vector (bf16 values are exact in f32).
  std::vector<float> f32(const std::string& name) const {
    Tensor t = ck.tensor(name);
    std::vector<float> v(size_t(t.numel()));
    tw::to_f32(t, v.data());
    return v;
  }
  std::vector<double> f64(const std::string& name) const {
    Tensor t = ck.tensor(name);
    std::vector<double> v(size_t(t.numel()));
    if (t.dtype == DType::F64) for (size_t i = 0; i < v.size(); ++i) v[i] = t.ptr<double>()[i];
    else for (size_t i = 0; i < v.size(); ++i) v[i] = tw::load_as_f32(t, int64_t(i));
    return v;
  }
  std::vector<int64_t> shape(const std::string& name) const { return ck.tensor(name).shape_vec(); }
};

// Runs fn with 1, 2 and 3 OpenMP threads; the outputs must be bit-identical (fixed accumulation
// order per output element). Without OpenMP this is a single run and trivially true.
template <class Fn>
inline bool same_for_thread_counts(Fn fn) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  std::vector<std::vector<float>> outs;
  for (int t : {1, 2, 3}) {
    omp_set_num_threads(t);
    outs.push_back(fn());
  }
  omp_set_num_threads(saved);
  return outs[0] == outs[1] && outs[0] == outs[2];
#else
  (void)fn;
  return true;
#endif
}

inline void report(const char* what, double err, double tol) {
  std::printf("  %-44s rel L2 %.3e (tol %.1e)\n", what, err, tol);
  TW_CHECK_MSG(err <= tol, "%s: rel L2 %.3e > %.1e", what, err, tol);
}

}  // namespace optest
