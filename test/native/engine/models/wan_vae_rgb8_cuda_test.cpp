// WanVaeCuda::decode_rgb8 (the decode `generate` uses on the GPU: RGB8 made on the device) gives
// exactly the bytes of the f32 decode mapped by the CPU ops::to_rgb8 on the host — same chunks, same
// frames, same values — and stops when the callback says so. Skips, saying so, without a GPU.
#include <cstdio>
#include <vector>

#include "loader/checkpoint.h"
#include "models/wan_dit_cuda.h"
#include "models/wan_vae_cuda.h"
#include "tw/ops_video.h"
#include "tw_test.h"

using namespace tw;

int main() {
  if (!engine::cuda_available()) {
    std::printf("wan_vae_rgb8_cuda_test: skipped (no CUDA backend in this build or no GPU visible)\n");
    return 0;
  }
  try {
    auto g = loader::Checkpoint::open("test/fixtures/vae/vae_small_golden.safetensors");
    auto gpu = engine::WanVaeCuda::load("test/fixtures/vae/vae_small.pth");
    Tensor z = g.tensor("z");  // [16, 3, 4, 6] → 9 frames at 32×48 in chunks of 1, 4, 4
    const int64_t HW = 32 * 48;

    std::vector<uint8_t> want;  // host mapping of the f32 decode, interleaved [f, h, w, c]
    gpu->decode(z, [&](const Tensor& fr, int, int) {
      const int64_t n = fr.size(1);
      std::vector<uint8_t> rgb(size_t(n * HW * 3));
      ops::to_rgb8({fr, Tensor::view(rgb.data(), DType::U8, {n, 32, 48, 3})});
      want.insert(want.end(), rgb.begin(), rgb.end());
      return true;
    });
    std::vector<uint8_t> got;
    std::vector<int64_t> sizes;
    const bool complete = gpu->decode_rgb8(z, [&](const uint8_t* rgb, int64_t n, int chunk, int total) {
      TW_CHECK(chunk == int(sizes.size()) && total == 3);
      sizes.push_back(n);
      got.insert(got.end(), rgb, rgb + n * HW * 3);
      return true;
    });
    TW_CHECK(complete);
    TW_CHECK((sizes == std::vector<int64_t>{1, 4, 4}));
    TW_CHECK_MSG(got.size() == want.size(), "%zu bytes, want %zu", got.size(), want.size());
    int64_t diff = 0;
    for (size_t i = 0; i < got.size() && i < want.size(); ++i) diff += got[i] != want[i];
    std::printf("decode_rgb8 vs the CPU to_rgb8 of the f32 decode: %lld of %zu bytes differ\n", (long long)diff, want.size());
    TW_CHECK_MSG(diff == 0, "%lld bytes differ", (long long)diff);

    int calls = 0;
    const bool stopped = !gpu->decode_rgb8(z, [&](const uint8_t*, int64_t, int, int) { return ++calls < 2; });
    TW_CHECK(stopped && calls == 2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 1;
  }
  return twtest::finish("wan_vae_rgb8_cuda_test");
}
