// Helpers for the CUDA op tests and benches (host code; include after tw_test.h): device tensors
// made from host values with guard bytes after them, poisoned outputs, and the comparison rules.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tw/cuda/device.h"

namespace tw::cuda::testing {

constexpr size_t kGuardBytes = 256;
constexpr unsigned char kGuard = 0xA5;

// A device tensor with guard bytes behind it. `host` holds the values exactly as stored on the
// device (rounded to the dtype), ready to feed a CPU reference.
struct DevTensor {
  DeviceBuffer buf;
  Tensor t;
  std::vector<float> host;
  size_t bytes = 0;

  static DevTensor make(const std::vector<float>& values, DType dt, const std::vector<int64_t>& shape) {
    DevTensor d;
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    if (int64_t(values.size()) != n) throw Error("DevTensor::make: value count does not match the shape");
    d.bytes = size_t(n) * dtype_size(dt);
    d.buf = DeviceBuffer(d.bytes + kGuardBytes);
    upload_as(values.data(), n, dt, d.buf.get());
    TW_CUDA_CHECK(cudaMemset(static_cast<char*>(d.buf.get()) + d.bytes, kGuard, kGuardBytes));
    d.t = Tensor::view(d.buf.get(), dt, shape, Device::CUDA);
    d.host.resize(size_t(n));
    download_as_f32(d.buf.get(), n, dt, d.host.data());
    return d;
  }
  // An output: every byte 0xFF (NaN in bf16/f32), so an element the op never writes fails the NaN check.
  static DevTensor poisoned(DType dt, const std::vector<int64_t>& shape) {
    DevTensor d;
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    d.bytes = size_t(n) * dtype_size(dt);
    d.buf = DeviceBuffer(d.bytes + kGuardBytes);
    TW_CUDA_CHECK(cudaMemset(d.buf.get(), 0xFF, d.bytes));
    TW_CUDA_CHECK(cudaMemset(static_cast<char*>(d.buf.get()) + d.bytes, kGuard, kGuardBytes));
    d.t = Tensor::view(d.buf.get(), dt, shape, Device::CUDA);
    return d;
  }
  std::vector<float> download() const {
    std::vector<float> v(size_t(t.numel()));
    download_as_f32(buf.get(), t.numel(), t.dtype, v.data());
    return v;
  }
  bool guard_intact() const {
    std::vector<unsigned char> g(kGuardBytes);
    TW_CUDA_CHECK(cudaMemcpy(g.data(), static_cast<const char*>(buf.get()) + bytes, kGuardBytes, cudaMemcpyDeviceToHost));
    for (unsigned char c : g) if (c != kGuard) return false;
    return true;
  }
};

// Fast deterministic N(0, stddev²)-ish values (sum of uniforms), cheaper than <random> for the
// 50M-element Wan-shaped inputs.
inline std::vector<float> randn_fast(size_t n, uint64_t seed, float stddev = 1.f) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&s]() { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return float(s >> 40) * (1.0f / 16777216.0f); };
  for (auto& x : v) x = (next() + next() + next() + next() - 2.f) * 1.7320508f * stddev;
  return v;
}

inline float round_bf16_f(float x) { return round_bf16(x); }

// Spacing of bf16 values around |x| (one unit in the last place).
inline float bf16_ulp(float x) {
  const float a = std::fabs(x);
  if (a < 1e-30f) return 1e-30f;
  int e;
  std::frexp(a, &e);  // a = m·2^e, m in [0.5, 1)
  return std::ldexp(1.f, e - 8);
}

struct Stats {
  double rel_l2 = 0, max_abs = 0;
  int64_t nan = 0, over = 0, n = 0;
};

// got: bf16 results; ref: the fp32 reference. Every element must be within `ulps` bf16 ulps of the
// reference rounded to bf16, plus `atol`. NaN anywhere fails.
inline Stats compare_bf16(const std::vector<float>& got, const std::vector<float>& ref, float ulps, float atol) {
  Stats s;
  s.n = int64_t(ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(got[i]) || std::isnan(ref[i])) { ++s.nan; continue; }
    const float r = round_bf16(ref[i]);
    const double d = std::fabs(double(got[i]) - double(r));
    s.max_abs = std::max(s.max_abs, d);
    if (d > double(ulps) * bf16_ulp(r) + atol) ++s.over;
    num += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  s.rel_l2 = std::sqrt(num / (den > 0 ? den : 1e-300));
  return s;
}

inline double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(ref[i])) return INFINITY;
    num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1e-300));
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& ref) {
  double m = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(ref[i])) return INFINITY;
    m = std::max(m, std::fabs(double(a[i]) - ref[i]));
  }
  return m;
}

inline double rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s / double(v.empty() ? 1 : v.size()));
}

// A CPU tensor view over a host vector (the CPU references take F32 views).
inline Tensor cpu_view(std::vector<float>& v, const std::vector<int64_t>& shape) {
  return Tensor::view(v.data(), DType::F32, shape, Device::CPU);
}

}  // namespace tw::cuda::testing
