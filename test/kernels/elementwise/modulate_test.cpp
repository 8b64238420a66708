// modulate: y = x·(1 + scale) + shift with PyTorch's fp32 operation order (bit-exact vs the same
// expression evaluated here in fp32), close to fp64, in place, broadcast over rows.
#include "../op_test_util.h"

using namespace optest;

int main() {
  for (auto [R, D] : {std::pair<int64_t, int64_t>{1, 1}, {7, 13}, {33, 1536}}) {
    auto x = twtest::randn(size_t(R * D), uint64_t(R * D), 2.f);
    auto sc = twtest::randn(size_t(D), 2, 0.3f), sh = twtest::randn(size_t(D), 3, 0.3f);
    Guarded y({R, D});
    tw::ops::modulate({view(x, {R, D}), view(sc, {D}), view(sh, {D}), y.t()});
    TW_CHECK(y.guards_intact());
    std::vector<float> expect(x.size());
    std::vector<double> e64(x.size());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < D; ++c) {
        volatile float one_plus = 1.f + sc[size_t(c)];  // volatile: keep fp32 roundings as torch does
        volatile float prod = x[size_t(r * D + c)] * one_plus;
        expect[size_t(r * D + c)] = prod + sh[size_t(c)];
        e64[size_t(r * D + c)] = double(x[size_t(r * D + c)]) * (1.0 + sc[size_t(c)]) + sh[size_t(c)];
      }
    TW_CHECK_MSG(y.values() == expect, "%lldx%lld not bit-identical to the fp32 expression", (long long)R, (long long)D);
    report("modulate vs fp64", rel_l2(y.values(), e64), 2e-7);
    tw::ops::modulate({view(x, {R, D}), view(sc, {D}), view(sh, {D}), view(x, {R, D})});  // in place
    TW_CHECK(x == expect);
  }
  {  // structured: scale 0, shift 0 → identity; scale −1 → shift
    auto x = arange(12);
    std::vector<float> z(4, 0.f), m1(4, -1.f), sh = arange(4, 1.f);
    Guarded y({3, 4});
    tw::ops::modulate({view(x, {3, 4}), view(z, {4}), view(z, {4}), y.t()});
    TW_CHECK(y.values() == x);
    tw::ops::modulate({view(x, {3, 4}), view(m1, {4}), view(sh, {4}), y.t()});
    for (int i = 0; i < 12; ++i) TW_CHECK(y.data()[i] == sh[size_t(i % 4)]);
  }
  {
    std::vector<float> x(8), s(3), y(8);
    auto msg = twtest::expect_throw([&] { tw::ops::modulate({view(x, {2, 4}), view(s, {3}), view(s, {3}), view(y, {2, 4})}); });
    TW_CHECK_MSG(msg.find("modulate: scale has shape [3], expected [4]") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("modulate_test");
}
