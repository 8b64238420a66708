// to_rgb8 (CPU reference): TurboDiffusion's [−1, 1] → RGB8 mapping at known values and every
// 8-bit boundary, planar → interleaved layout on a structured input, shape and dtype errors.
#include <cmath>
#include <cstdint>

#include "../op_test_util.h"
#include "tw/ops_video.h"

using namespace optest;

namespace {

tw::Tensor u8_view(std::vector<uint8_t>& v, const std::vector<int64_t>& shape) {
  return tw::Tensor::view(v.data(), tw::DType::U8, shape, tw::Device::CPU);
}

}  // namespace

int main() {
  {  // known values: −1 → 0, 1 → 255, 0 → 128 (127.5 rounds half up), clamped outside [−1, 1]
    std::vector<float> x = {-1.f, 1.f, 0.f, -7.f, 7.f, -0.999f};
    std::vector<uint8_t> y(6, 0xAA);
    tw::ops::to_rgb8({view(x, {3, 1, 1, 2}), u8_view(y, {1, 1, 2, 3})});
    // pixel 0 = (x[0], x[2], x[4]), pixel 1 = (x[1], x[3], x[5])
    const uint8_t want[6] = {0, 128, 255, 255, 0, uint8_t(int((1.f - 0.999f) * 0.5f * 255.f + 0.5f))};
    for (int i = 0; i < 6; ++i) TW_CHECK_MSG(y[size_t(i)] == want[i], "byte %d: %d, want %d", i, y[size_t(i)], want[i]);
  }
  {  // every level k maps back to k from the centre of its bucket: v = 2k/255 − 1
    std::vector<float> x(3 * 256);
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 256; ++k) x[size_t(c * 256 + k)] = 2.f * float(k) / 255.f - 1.f;
    std::vector<uint8_t> y(3 * 256);
    tw::ops::to_rgb8({view(x, {3, 1, 16, 16}), u8_view(y, {1, 16, 16, 3})});
    for (int k = 0; k < 256; ++k)
      for (int c = 0; c < 3; ++c) TW_CHECK_MSG(y[size_t(k * 3 + c)] == k, "level %d channel %d → %d", k, c, y[size_t(k * 3 + c)]);
  }
  {  // layout: x[c, f, h, w] = c·1000 + f·100 + h·10 + w (scaled into range) lands at y[f, h, w, c]
    const int64_t n = 3, H = 4, W = 5;
    std::vector<float> x(size_t(3 * n * H * W));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t f = 0; f < n; ++f)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) x[size_t(((c * n + f) * H + h) * W + w)] = float(c * 60 + f * 20 + h * 5 + w) / 127.5f - 1.f;
    std::vector<uint8_t> y(size_t(n * H * W * 3));
    tw::ops::to_rgb8({view(x, {3, n, H, W}), u8_view(y, {n, H, W, 3})});
    for (int64_t f = 0; f < n; ++f)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          for (int64_t c = 0; c < 3; ++c) {
            const int want = int(c * 60 + f * 20 + h * 5 + w);
            const int got = y[size_t(((f * H + h) * W + w) * 3 + c)];
            TW_CHECK_MSG(got == want, "f%lld h%lld w%lld c%lld: %d, want %d", (long long)f, (long long)h, (long long)w, (long long)c, got, want);
          }
  }
  {  // errors name the shapes
    std::vector<float> x(3 * 2 * 4 * 4);
    std::vector<uint8_t> y(2 * 4 * 4 * 3);
    auto msg = twtest::expect_throw([&] { tw::ops::to_rgb8({view(x, {3, 2, 4, 4}), u8_view(y, {2, 4, 3, 4})}); });
    TW_CHECK_MSG(msg.find("y must be [frames, H, W, 3] = [2, 4, 4, 3]; got [2, 4, 3, 4]") != std::string::npos, "%s", msg.c_str());
    msg = twtest::expect_throw([&] { tw::ops::to_rgb8({view(x, {2, 3, 4, 4}), u8_view(y, {3, 4, 4, 2})}); });
    TW_CHECK_MSG(msg.find("x must be [3, frames, H, W]") != std::string::npos, "%s", msg.c_str());
    std::vector<float> yf(2 * 4 * 4 * 3);
    msg = twtest::expect_throw([&] { tw::ops::to_rgb8({view(x, {3, 2, 4, 4}), view(yf, {2, 4, 4, 3})}); });
    TW_CHECK_MSG(msg.find("to_rgb8") != std::string::npos && msg.find("y") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("to_rgb8_test");
}
