// The GPU umT5 encoder (bf16 weights and residual stream, CUDA ops) against the fp32 CPU UMT5Encoder
// on the 3-layer random-weight fixture (test/fixtures/umt5), including padded prompts and a mask with
// a hole. Skips, saying so, where no GPU is available.
//
// Tolerance: the reference itself runs in bf16 (t5_dtype); against the fp32 CPU model every op
// boundary rounds to bf16 (≤ 2^-9 relative) and q·kᵀ is rounded before the softmax, ~10 roundings per
// layer in series over 3 layers → ~1e-2 relative L2. 3e-2 catches any real mistake (a wrong bucket,
// head split or mask gives O(1) on the affected rows). Pad rows must be exactly zero.
#include <cmath>
#include <cstdio>
#include <vector>

#include "loader/checkpoint.h"
#include "models/umt5.h"
#include "models/umt5_cuda.h"
#include "models/wan_dit_cuda.h"
#include "tw_test.h"

using namespace tw;

namespace {
std::vector<int32_t> row_i32(const Tensor& t, int64_t r) {
  const int64_t n = t.size(1);
  const int32_t* p = t.ptr<int32_t>() + r * n;
  return std::vector<int32_t>(p, p + n);
}

void compare(const engine::UMT5Encoder& cpu, const engine::UMT5EncoderCuda& gpu, const std::vector<int32_t>& ids,
             const std::vector<int32_t>& mask, const char* what) {
  HostTensor a = cpu.encode(ids, mask), b = gpu.encode(ids, mask);
  TW_CHECK(a.t().shape_vec() == b.t().shape_vec());
  const int64_t L = a.t().size(0), D = a.t().size(1);
  const double e = twtest::rel_l2(b.f32(), a.f32(), size_t(a.numel()));
  bool pad_zero = true, finite = true;
  for (int64_t i = 0; i < L; ++i)
    for (int64_t d = 0; d < D; ++d) {
      const float v = b.f32()[i * D + d];
      finite &= std::isfinite(v);
      if (mask[size_t(i)] == 0) pad_zero &= v == 0.f;
    }
  std::printf("umt5 gpu vs cpu (%s): rel L2 %.3g\n", what, e);
  TW_CHECK_MSG(e <= 3e-2, "%s: rel L2 %.3g > 3e-2", what, e);
  TW_CHECK_MSG(pad_zero, "%s: pad rows are not zero", what);
  TW_CHECK_MSG(finite, "%s: non-finite outputs", what);
}
}  // namespace

int main() {
  if (!engine::cuda_available()) {
    std::printf("umt5_cuda_test: skipped (no CUDA backend in this build or no GPU visible)\n");
    return 0;
  }
  try {
    const char* weights = "test/fixtures/umt5/umt5_small.pth";
    auto g = loader::Checkpoint::open("test/fixtures/umt5/umt5_small_golden.safetensors");
    auto cpu = engine::UMT5Encoder::load(weights);
    auto gpu = engine::UMT5EncoderCuda::load(weights);
    TW_CHECK(gpu->config().num_layers == cpu->config().num_layers && gpu->config().num_heads == cpu->config().num_heads);
    Tensor ids = g.tensor("ids"), mask = g.tensor("mask");
    for (int64_t b = 0; b < ids.size(0); ++b) {
      char what[32];
      std::snprintf(what, sizeof what, "sequence %lld", (long long)b);
      compare(*cpu, *gpu, row_i32(ids, b), row_i32(mask, b), what);
    }
    auto ids1 = row_i32(ids, 1), m1 = row_i32(mask, 1);
    m1[3] = 0;
    compare(*cpu, *gpu, ids1, m1, "mask with a hole");
    // A long prompt: 200 tokens, past the exact buckets (max distance 128).
    std::vector<int32_t> ids2(256, 0), m2(256, 0);
    for (int i = 0; i < 200; ++i) { ids2[size_t(i)] = int32_t((i * 37 + 5) % cpu->config().vocab); m2[size_t(i)] = 1; }
    compare(*cpu, *gpu, ids2, m2, "200 tokens");
    std::printf("weights on the device: %.2f MB\n", gpu->weight_bytes() / 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  std::printf("umt5_cuda_test: %s\n", twtest::failures() ? "FAILED" : "ok");
  return twtest::failures() ? 1 : 0;
}
