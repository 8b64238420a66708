// rope3d: vs the official Wan2.1 rope_params/rope_apply (float64 complex; test/fixtures/ops/rope3d.safetensors),
// vs std::complex<long double> here, and properties: token (0,0,0) unchanged, pair norms kept,
// the 22/21/21 split (moving along one axis only rotates that axis's pairs).
#include <complex>

#include "../op_test_util.h"

using namespace optest;

namespace {

std::vector<double> rope_ld(const std::vector<float>& x, int64_t T, int64_t H, int64_t W, int64_t heads, int64_t d) {
  const int64_t c = d / 2, ph = c / 3, pt = c - 2 * ph;
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < T * H * W; ++n) {
    const int64_t pos[3] = {n / (H * W), (n / W) % H, n % W};
    for (int64_t hd = 0; hd < heads; ++hd)
      for (int64_t i = 0; i < c; ++i) {
        const int axis = i < pt ? 0 : (i < pt + ph ? 1 : 2);
        const int64_t j = axis == 0 ? i : (axis == 1 ? i - pt : i - pt - ph);
        const long double dim = axis == 0 ? 2.0L * pt : 2.0L * ph;
        const long double ang = (long double)pos[axis] / std::pow(10000.0L, 2.0L * j / dim);
        const size_t o = size_t((n * heads + hd) * d + 2 * i);
        std::complex<long double> z(x[o], x[o + 1]);
        z *= std::polar(1.0L, ang);
        y[o] = double(z.real());
        y[o + 1] = double(z.imag());
      }
  }
  return y;
}

}  // namespace

int main() {
  {  // official Wan2.1 code
    Golden g("rope3d");
    for (const char* name : {"a", "b"}) {
      auto x = g.f32(std::string("x_") + name);
      auto shape = g.shape(std::string("x_") + name);
      Tensor grid = g.raw(std::string("grid_") + name);
      const int64_t* tg = grid.ptr<int64_t>();
      tw::ops::rope3d({view(x, shape), tg[0], tg[1], tg[2]});
      auto ref = g.f32(std::string("y_") + name);
      size_t same = 0;
      for (size_t i = 0; i < x.size(); ++i) same += x[i] == ref[i];
      char what[96];
      std::snprintf(what, sizeof what, "official rope_apply grid %lldx%lldx%lld (%zu/%zu bit-equal)", (long long)tg[0],
                    (long long)tg[1], (long long)tg[2], same, x.size());
      // same float64 math, one fp32 rounding on each side: differences only from libm cos/sin ulps
      report(what, rel_l2(x, ref), 1e-7);
    }
  }
  {  // Wan-ish: 3×6×10 grid, 12 heads, d 128, vs long double
    const int64_t T = 3, H = 6, W = 10, heads = 12, d = 128, L = T * H * W;
    auto x = twtest::randn(size_t(L * heads * d), 17);
    auto ref = rope_ld(x, T, H, W, heads, d);
    auto x0 = x;
    tw::ops::rope3d({view(x, {L, heads, d}), T, H, W});
    report("3x6x10 grid, 12 heads vs long double", rel_l2(x, ref), 1e-7);
    for (int64_t i = 0; i < heads * d; ++i) TW_CHECK(x[size_t(i)] == x0[size_t(i)]);  // token (0,0,0)
    double worst = 0;
    for (size_t i = 0; i < x.size(); i += 2) {
      const double a = std::hypot(double(x[i]), double(x[i + 1])), b = std::hypot(double(x0[i]), double(x0[i + 1]));
      worst = std::max(worst, std::fabs(a - b) / std::max(b, 1e-30));
    }
    TW_CHECK_MSG(worst < 1e-6, "pair norm changed by %.3e", worst);
  }
  {  // split: token (0,0,1) differs from (0,0,0) only in the last 21 pairs (w); (0,1,0) only in pairs 22..42
    const int64_t T = 2, H = 2, W = 2, d = 128;
    std::vector<float> x(size_t(8 * d), 1.f);
    tw::ops::rope3d({view(x, {8, 1, d}), T, H, W});
    auto changed = [&](int64_t tok, int64_t pair) { return x[size_t(tok * d + 2 * pair)] != 1.f || x[size_t(tok * d + 2 * pair + 1)] != 1.f; };
    for (int64_t i = 0; i < 64; ++i) {
      TW_CHECK_MSG(changed(1, i) == (i >= 43), "w token, pair %lld", (long long)i);
      TW_CHECK_MSG(changed(2, i) == (i >= 22 && i < 43), "h token, pair %lld", (long long)i);
      TW_CHECK_MSG(changed(4, i) == (i < 22), "t token, pair %lld", (long long)i);
    }
    // pair 0 of the t axis rotates by exactly t radians (ω = 1): (1,1) → (cos1 − sin1, sin1 + cos1)
    TW_CHECK(std::fabs(x[size_t(4 * d)] - float(std::cos(1.0) - std::sin(1.0))) < 1e-7f);
    TW_CHECK(std::fabs(x[size_t(4 * d + 1)] - float(std::sin(1.0) + std::cos(1.0))) < 1e-7f);
  }
  {
    std::vector<float> x(10 * 2 * 128);
    auto msg = twtest::expect_throw([&] { tw::ops::rope3d({view(x, {10, 2, 128}), 1, 3, 3}); });
    TW_CHECK_MSG(msg.find("rope3d: grid 1x3x3 = 9 tokens, but x has L = 10") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("rope3d_test");
}
