// Seeded, platform-independent Gaussian noise. Counter-based (Philox4x32-10 + Box–Muller), so
// element i of a draw depends only on (seed, stream, i): the same seed gives the same video on
// every machine and backend, and draws can be generated in parallel.
#pragma once

#include <cstdint>
#include <vector>

namespace tw::engine {

// Fills out[0..n) with N(0,1) samples of stream `stream` (0 = initial noise, 1+i = SDE step i).
void gaussian_noise(uint64_t seed, uint64_t stream, float* out, int64_t n);

}  // namespace tw::engine
