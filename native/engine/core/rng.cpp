#include "core/rng.h"

#include <cmath>

namespace tw::engine {
namespace {

// Philox4x32 with 10 rounds (Salmon et al., SC'11): the constants are the published ones.
struct Philox {
  uint32_t key[2];
  void operator()(uint32_t ctr[4]) const {
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; ++r) {
      uint64_t p0 = uint64_t(0xD2511F53u) * ctr[0];
      uint64_t p1 = uint64_t(0xCD9E8D57u) * ctr[2];
      uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
      uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
      uint32_t n0 = hi1 ^ ctr[1] ^ k0, n2 = hi0 ^ ctr[3] ^ k1;
      ctr[0] = n0; ctr[1] = lo1; ctr[2] = n2; ctr[3] = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
  }
};

// (0, 1]: never 0, so log() is finite.
inline double to_unit(uint32_t a, uint32_t b) {
  uint64_t bits = (uint64_t(a) << 21) ^ uint64_t(b >> 11);  // 53 random bits
  bits &= (uint64_t(1) << 53) - 1;
  return (double(bits) + 1.0) / 9007199254740992.0;
}

}  // namespace

void gaussian_noise(uint64_t seed, uint64_t stream, float* out, int64_t n) {
  Philox ph{{uint32_t(seed), uint32_t(seed >> 32)}};
  const double two_pi = 6.283185307179586476925286766559;
#pragma omp parallel for schedule(static)
  for (int64_t pair = 0; pair < (n + 1) / 2; ++pair) {
    uint32_t ctr[4] = {uint32_t(pair), uint32_t(uint64_t(pair) >> 32), uint32_t(stream), uint32_t(stream >> 32)};
    ph(ctr);
    double u1 = to_unit(ctr[0], ctr[1]), u2 = to_unit(ctr[2], ctr[3]);
    double r = std::sqrt(-2.0 * std::log(u1));
    int64_t i = pair * 2;
    out[i] = float(r * std::cos(two_pi * u2));
    if (i + 1 < n) out[i + 1] = float(r * std::sin(two_pi * u2));
  }
}

}  // namespace tw::engine
