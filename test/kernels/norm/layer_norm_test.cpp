// layer_norm: vs an fp64 computation here (odd and Wan shapes, affine or not, bf16 weights, in
// place), structured rows, and vs PyTorch F.layer_norm fp32 (test/fixtures/ops/layer_norm.safetensors).
#include "../op_test_util.h"

using namespace optest;

namespace {

std::vector<double> ln64(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                         int64_t R, int64_t D, double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < R; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < D; ++c) mean += x[size_t(r * D + c)];
    mean /= double(D);
    for (int64_t c = 0; c < D; ++c) var += (x[size_t(r * D + c)] - mean) * (x[size_t(r * D + c)] - mean);
    var /= double(D);
    for (int64_t c = 0; c < D; ++c) {
      double v = (x[size_t(r * D + c)] - mean) / std::sqrt(var + eps);
      y[size_t(r * D + c)] = w.empty() ? v : v * w[size_t(c)] + b[size_t(c)];
    }
  }
  return y;
}

}  // namespace

int main() {
  for (auto [R, D] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {17, 1536}, {5, 5120}, {9, 333}}) {
    auto x = twtest::randn(size_t(R * D), uint64_t(R * 31 + D), 3.f);
    for (auto& v : x) v += 100.f;  // large mean: a one-pass variance would lose digits here
    auto w = twtest::randn(size_t(D), 5, 0.3f), b = twtest::randn(size_t(D), 6, 0.3f);
    Guarded y({R, D}), ya({R, D});
    tw::ops::layer_norm({view(x, {R, D}), {}, {}, y.t(), 1e-6f});
    tw::ops::layer_norm({view(x, {R, D}), view(w, {D}), view(b, {D}), ya.t(), 1e-6f});
    TW_CHECK(y.guards_intact() && ya.guards_intact());
    char what[64];
    std::snprintf(what, sizeof what, "%lldx%lld no affine vs fp64", (long long)R, (long long)D);
    report(what, D == 1 ? max_abs_diff(y.values(), std::vector<float>(size_t(R), 0.f)) : rel_l2(y.values(), ln64(x, {}, {}, R, D, 1e-6)), 2e-7);
    std::snprintf(what, sizeof what, "%lldx%lld affine vs fp64", (long long)R, (long long)D);
    report(what, rel_l2(ya.values(), ln64(x, w, b, R, D, 1e-6)), 2e-7);
  }
  {  // structured: a constant row normalizes to exactly 0 (+ b); arange is symmetric around its mean
    std::vector<float> x(64, 3.25f), b(64, 0.5f), w(64, 2.f);
    Guarded y({1, 64});
    tw::ops::layer_norm({view(x, {1, 64}), view(w, {64}), view(b, {64}), y.t(), 1e-6f});
    for (float v : y.values()) TW_CHECK(v == 0.5f);
    auto a = arange(65);
    Guarded ya({1, 65});
    tw::ops::layer_norm({view(a, {1, 65}), {}, {}, ya.t(), 0.f});
    for (int i = 0; i < 65; ++i) TW_CHECK(ya.data()[i] == -ya.data()[64 - i]);
    TW_CHECK(ya.data()[32] == 0.f);
  }
  {  // bf16 weights read in place; in place on x
    const int64_t R = 4, D = 256;
    auto x = twtest::randn(size_t(R * D), 11), w = twtest::randn(size_t(D), 12), b = twtest::randn(size_t(D), 13);
    auto wb = to_bf16(w), bb = to_bf16(b);
    for (size_t i = 0; i < w.size(); ++i) { w[i] = tw::bf16_to_f32(wb[i]); b[i] = tw::bf16_to_f32(bb[i]); }
    auto ref = ln64(x, w, b, R, D, 1e-6);
    tw::ops::layer_norm({view(x, {R, D}), Tensor::view(wb.data(), DType::BF16, {D}), Tensor::view(bb.data(), DType::BF16, {D}),
                         view(x, {R, D}), 1e-6f});
    report("bf16 affine, in place", rel_l2(x, ref), 2e-7);
  }
  {  // PyTorch
    Golden g("layer_norm");
    auto x = g.f32("x"), w = g.f32("w"), b = g.f32("b");
    Guarded ya({33, 1536}), yp({33, 1536});
    tw::ops::layer_norm({view(x, {33, 1536}), view(w, {1536}), view(b, {1536}), ya.t(), 1e-6f});
    tw::ops::layer_norm({view(x, {33, 1536}), {}, {}, yp.t(), 1e-6f});
    // torch's fp32 Welford kernel is ~1e-7 from fp64; ours ≤ 1 fp32 rounding
    report("torch F.layer_norm fp32, affine", rel_l2(ya.values(), g.f32("y_affine")), 1e-6);
    report("torch F.layer_norm fp32, no affine", rel_l2(yp.values(), g.f32("y_plain")), 1e-6);
  }
  {
    std::vector<float> x(8), y(8), w(3);
    auto msg = twtest::expect_throw([&] { tw::ops::layer_norm({view(x, {2, 4}), view(w, {3}), {}, view(y, {2, 4})}); });
    TW_CHECK_MSG(msg.find("layer_norm: w has shape [3], expected [4]") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("layer_norm_test");
}
