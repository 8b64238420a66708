// activation: GELU-tanh and SiLU vs their formulas in long double, known values, in place, and vs
// PyTorch F.gelu(approximate="tanh") / F.silu in fp32 (test/fixtures/ops/activation.safetensors).
#include "../op_test_util.h"

using namespace optest;
using tw::ops::Activation;

namespace {

std::vector<double> gelu64(const std::vector<float>& x) {
  std::vector<double> y(x.size());
  const long double k = std::sqrt(2.0L / 3.14159265358979323846264338327950288L);
  for (size_t i = 0; i < x.size(); ++i) {
    long double v = x[i];
    y[i] = double(0.5L * v * (1.0L + std::tanh(k * (v + 0.044715L * v * v * v))));
  }
  return y;
}

std::vector<double> silu64(const std::vector<float>& x) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = double((long double)x[i] / (1.0L + std::exp(-(long double)x[i])));
  return y;
}

}  // namespace

int main() {
  auto x = twtest::randn(10007, 3, 4.f);
  x.push_back(0.f);
  x.push_back(-30.f);
  x.push_back(30.f);
  const int64_t n = int64_t(x.size());
  Guarded g({n}), s({n});
  tw::ops::activation({view(x, {n}), g.t(), Activation::GeluTanh});
  tw::ops::activation({view(x, {n}), s.t(), Activation::Silu});
  TW_CHECK(g.guards_intact() && s.guards_intact());
  report("gelu_tanh vs long double", rel_l2(g.values(), gelu64(x)), 1e-7);
  report("silu vs long double", rel_l2(s.values(), silu64(x)), 1e-7);
  TW_CHECK(g.data()[n - 3] == 0.f && g.data()[n - 2] == -0.f && g.data()[n - 1] == 30.f);
  TW_CHECK(s.data()[n - 3] == 0.f && s.data()[n - 1] == 30.f);

  {  // 2-D, in place, known value: gelu_tanh(1) = 0.841191990607..., silu(1) = 0.731058578630...
    std::vector<float> a = {1.f, 1.f, 1.f, 1.f, 1.f, 1.f};
    tw::ops::activation({view(a, {2, 3}), view(a, {2, 3}), Activation::GeluTanh});
    TW_CHECK_MSG(std::fabs(a[4] - 0.8411919906f) < 1e-7f, "%.9g", a[4]);
    std::vector<float> b = {1.f};
    tw::ops::activation({view(b, {1}), view(b, {1}), Activation::Silu});
    TW_CHECK_MSG(std::fabs(b[0] - 0.7310585786f) < 1e-7f, "%.9g", b[0]);
  }
  {  // NaN stays NaN
    std::vector<float> a = {NAN};
    tw::ops::activation({view(a, {1}), view(a, {1}), Activation::GeluTanh});
    TW_CHECK(std::isnan(a[0]));
  }
  {  // PyTorch fp32 (its tanhf/expf are within a few ulp)
    Golden gd("activation");
    auto xa = gd.f32("x");
    const int64_t m = int64_t(xa.size());
    Guarded yg({m}), ys({m});
    tw::ops::activation({view(xa, {m}), yg.t(), Activation::GeluTanh});
    tw::ops::activation({view(xa, {m}), ys.t(), Activation::Silu});
    report("torch F.gelu(approximate=tanh) fp32", rel_l2(yg.values(), gd.f32("gelu_tanh")), 1e-6);
    report("torch F.silu fp32", rel_l2(ys.values(), gd.f32("silu")), 1e-6);
  }
  {
    std::vector<float> a(6), b(6);
    auto msg = twtest::expect_throw([&] { tw::ops::activation({view(a, {2, 3}), view(b, {3, 2}), Activation::Silu}); });
    TW_CHECK_MSG(msg.find("activation: y has shape [3, 2]") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("activation_test");
}
