// rms_norm: vs fp64 here (odd and Wan shapes, bf16/f32 weights, in place), structured rows, and vs
// PyTorch x·rsqrt(mean(x²)+eps)·w in fp32 (test/fixtures/ops/rms_norm.safetensors).
#include "../op_test_util.h"

using namespace optest;

namespace {

std::vector<double> rms64(const std::vector<float>& x, const std::vector<float>& w, int64_t R, int64_t D, double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < R; ++r) {
    double ms = 0;
    for (int64_t c = 0; c < D; ++c) ms += double(x[size_t(r * D + c)]) * x[size_t(r * D + c)];
    const double s = 1.0 / std::sqrt(ms / double(D) + eps);
    for (int64_t c = 0; c < D; ++c) y[size_t(r * D + c)] = x[size_t(r * D + c)] * s * w[size_t(c)];
  }
  return y;
}

}  // namespace

int main() {
  for (auto [R, D] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {12, 1536}, {4, 5120}, {7, 129}}) {
    auto x = twtest::randn(size_t(R * D), uint64_t(R + 7 * D), 2.f);
    auto w = twtest::randn(size_t(D), 3, 0.5f);
    Guarded y({R, D});
    tw::ops::rms_norm({view(x, {R, D}), view(w, {D}), y.t(), 1e-6f});
    TW_CHECK(y.guards_intact());
    char what[64];
    std::snprintf(what, sizeof what, "%lldx%lld vs fp64", (long long)R, (long long)D);
    report(what, rel_l2(y.values(), rms64(x, w, R, D, 1e-6)), 2e-7);
  }
  {  // structured: ones → w / sqrt(1 + eps); zeros stay zero; bf16 weight in place
    std::vector<float> x(128, 1.f), w = arange(128, 0.5f, 0.25f);
    auto wb = to_bf16(w);
    tw::ops::rms_norm({view(x, {1, 128}), Tensor::view(wb.data(), DType::BF16, {128}), view(x, {1, 128}), 0.f});
    for (int i = 0; i < 128; ++i) TW_CHECK(x[size_t(i)] == tw::bf16_to_f32(wb[size_t(i)]));
    std::vector<float> z(16, 0.f), wz(16, 1.f);
    Guarded y({1, 16});
    tw::ops::rms_norm({view(z, {1, 16}), view(wz, {16}), y.t(), 1e-6f});
    for (float v : y.values()) TW_CHECK(v == 0.f);
  }
  {  // PyTorch
    Golden g("rms_norm");
    auto x = g.f32("x"), w = g.f32("w");
    Guarded y({29, 640});
    tw::ops::rms_norm({view(x, {29, 640}), view(w, {640}), y.t(), 1e-6f});
    report("torch x*rsqrt(mean(x^2)+eps)*w fp32", rel_l2(y.values(), g.f32("y")), 1e-6);
  }
  {
    std::vector<float> x(8), y(8);
    auto msg = twtest::expect_throw([&] { tw::ops::rms_norm({view(x, {2, 4}), {}, view(y, {2, 4})}); });
    TW_CHECK_MSG(msg.find("rms_norm: w is required") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("rms_norm_test");
}
