// to_rgb8 on CUDA vs the CPU reference on the same input values (bf16-rounded for the BF16 input):
// the bytes must be identical (same fp32 operations, no contraction), on random values spread past
// [−1, 1], on every level boundary ±1 fp32 ulp, and at the real 480p chunk shape.
#include <cmath>
#include <cstdint>

#include "tw_test.h"
#include "tw/cuda/testing.h"
#include "tw/ops_video.h"

using namespace tw;
using namespace tw::cuda::testing;

static void run(int64_t n, int64_t H, int64_t W, DType dt, std::vector<float> values, const char* what) {
  const int64_t count = 3 * n * H * W;
  values.resize(size_t(count), 0.f);
  auto x = DevTensor::make(values, dt, {3, n, H, W});  // x.host: the values as the device holds them
  auto y = DevTensor::poisoned(DType::U8, {n, H, W, 3});
  ops::to_rgb8({x.t, y.t});
  cuda::synchronize();
  std::vector<uint8_t> got(static_cast<size_t>(count));
  TW_CUDA_CHECK(cudaMemcpy(got.data(), y.buf.get(), got.size(), cudaMemcpyDeviceToHost));
  std::vector<uint8_t> want(static_cast<size_t>(count));
  ops::to_rgb8({Tensor::view(x.host.data(), DType::F32, {3, n, H, W}, Device::CPU), Tensor::view(want.data(), DType::U8, {n, H, W, 3}, Device::CPU)});
  int64_t diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff += got[i] != want[i];
  std::printf("  %-40s [3,%lld,%lld,%lld] %s: %lld of %lld bytes differ\n", what, (long long)n, (long long)H, (long long)W, dtype_name(dt),
              (long long)diff, (long long)count);
  TW_CHECK_MSG(diff == 0, "%s: %lld bytes differ from the CPU reference", what, (long long)diff);
  TW_CHECK_MSG(y.guard_intact(), "%s: wrote past the end", what);
}

int main() {
  try {
    for (DType dt : {DType::F32, DType::BF16}) {
      run(5, 37, 41, dt, randn_fast(size_t(3 * 5 * 37 * 41), 1, 0.8f), "random, ±2.5σ past the range");
      std::vector<float> edges;  // each rounding boundary (level k + ½) and its fp32 neighbours
      for (int k = 0; k < 256; ++k) {
        const float b = (float(k) + 0.5f) / 127.5f - 1.f;
        edges.push_back(std::nextafter(b, -2.f)), edges.push_back(b), edges.push_back(std::nextafter(b, 2.f));
      }
      run(1, 16, 48, dt, edges, "level boundaries ±1 ulp");
      run(4, 480, 832, dt, randn_fast(size_t(3 * 4 * 480 * 832), 2, 0.6f), "one 480p decode chunk");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("to_rgb8_cuda_test");
}
