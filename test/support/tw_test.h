// Minimal harness for the standalone C++ tests (no framework: they must build on the GPU machine
// with nothing but CMake). A test binary exits non-zero when any CHECK failed.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace twtest {

inline int& failures() { static int f = 0; return f; }

#define TW_CHECK(cond)                                                                  \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
      ++twtest::failures();                                                             \
    }                                                                                   \
  } while (0)

#define TW_CHECK_MSG(cond, ...)                                                         \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);     \
      std::fprintf(stderr, __VA_ARGS__);                                                \
      std::fprintf(stderr, "\n");                                                       \
      ++twtest::failures();                                                             \
    }                                                                                   \
  } while (0)

// Runs `fn`, expects it to throw, and returns the message (empty when it did not throw).
inline std::string expect_throw(const std::function<void()>& fn) {
  try { fn(); } catch (const std::exception& e) { return e.what(); }
  ++failures();
  std::fprintf(stderr, "expected an exception, none was thrown\n");
  return {};
}

// ‖a − b‖₂ / ‖b‖₂ (b = reference). NaN in either input gives +inf so a NaN never passes.
inline double rel_l2(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / (den > 0 ? den : 1e-300));
}

inline std::vector<float> randn(size_t n, uint64_t seed, float stddev = 1.f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline int finish(const char* name) {
  if (failures()) { std::fprintf(stderr, "%s: %d check(s) failed\n", name, failures()); return 1; }
  std::printf("%s: ok\n", name);
  return 0;
}

}  // namespace twtest
