// gated_add: x += y·gate (PyTorch's fp32 `x + y * gate`, bit-exact here), plain add without a gate.
#include "../op_test_util.h"

using namespace optest;

int main() {
  for (auto [R, D] : {std::pair<int64_t, int64_t>{1, 1}, {5, 9}, {21, 1536}}) {
    auto x = twtest::randn(size_t(R * D), uint64_t(R + D), 3.f);
    auto y = twtest::randn(size_t(R * D), 4);
    auto gate = twtest::randn(size_t(D), 5, 0.5f);
    std::vector<float> expect(x.size()), expect_plain(x.size());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < D; ++c) {
        volatile float p = y[size_t(r * D + c)] * gate[size_t(c)];
        expect[size_t(r * D + c)] = x[size_t(r * D + c)] + p;
        expect_plain[size_t(r * D + c)] = expect[size_t(r * D + c)] + y[size_t(r * D + c)];
      }
    Guarded xg({R, D});
    std::copy(x.begin(), x.end(), xg.data());
    tw::ops::gated_add({xg.t(), view(y, {R, D}), view(gate, {D})});
    TW_CHECK(xg.guards_intact());
    TW_CHECK(xg.values() == expect);
    tw::ops::gated_add({xg.t(), view(y, {R, D}), {}});
    TW_CHECK(xg.values() == expect_plain);
  }
  {  // structured: ones gate, arange
    auto x = arange(6), y = arange(6, 10.f);
    std::vector<float> one(3, 1.f);
    tw::ops::gated_add({view(x, {2, 3}), view(y, {2, 3}), view(one, {3})});
    for (int i = 0; i < 6; ++i) TW_CHECK(x[size_t(i)] == float(10 + 2 * i));
  }
  {
    std::vector<float> x(8), y(6);
    auto msg = twtest::expect_throw([&] { tw::ops::gated_add({view(x, {2, 4}), view(y, {2, 3}), {}}); });
    TW_CHECK_MSG(msg.find("gated_add: y has shape [2, 3], expected [2, 4]") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("gated_add_test");
}
