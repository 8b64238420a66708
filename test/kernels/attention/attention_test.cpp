// attention (dense): vs an fp64 softmax attention written here (self and cross shapes, odd
// lengths, head dim 128), structured inputs, and vs PyTorch SDPA (math backend, fp32) in
// test/fixtures/ops/attention.safetensors.
#include "../op_test_util.h"

using namespace optest;

namespace {

std::vector<double> attn64(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                           int64_t Lq, int64_t Lk, int64_t H, int64_t d, double scale) {
  std::vector<double> o(static_cast<size_t>(Lq * H * d)), p(static_cast<size_t>(Lk));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Lq; ++i) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < Lk; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += double(q[size_t((i * H + h) * d + c)]) * k[size_t((j * H + h) * d + c)];
        p[size_t(j)] = s * scale;
        mx = std::max(mx, p[size_t(j)]);
      }
      for (auto& x : p) { x = std::exp(x - mx); sum += x; }
      for (int64_t c = 0; c < d; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < Lk; ++j) acc += p[size_t(j)] * v[size_t((j * H + h) * d + c)];
        o[size_t((i * H + h) * d + c)] = acc / sum;
      }
    }
  return o;
}

}  // namespace

int main() {
  struct Case { int64_t Lq, Lk, H, d; float qstd; };
  for (Case c : {Case{1, 1, 1, 1, 1.f}, Case{7, 13, 2, 16, 1.f}, Case{130, 130, 2, 128, 1.f}, Case{65, 512, 3, 128, 1.f},
                 Case{33, 40, 1, 64, 4.f}}) {
    auto q = twtest::randn(static_cast<size_t>(c.Lq * c.H * c.d), uint64_t(c.Lq + c.d), c.qstd);
    auto k = twtest::randn(static_cast<size_t>(c.Lk * c.H * c.d), 2), v = twtest::randn(static_cast<size_t>(c.Lk * c.H * c.d), 3);
    Guarded o({c.Lq, c.H, c.d});
    tw::ops::attention({view(q, {c.Lq, c.H, c.d}), view(k, {c.Lk, c.H, c.d}), view(v, {c.Lk, c.H, c.d}), o.t()});
    TW_CHECK(o.guards_intact());
    char what[96];
    std::snprintf(what, sizeof what, "Lq %lld Lk %lld heads %lld d %lld vs fp64", (long long)c.Lq, (long long)c.Lk,
                  (long long)c.H, (long long)c.d);
    report(what, rel_l2(o.values(), attn64(q, k, v, c.Lq, c.Lk, c.H, c.d, double(float(1.0 / std::sqrt(double(c.d)))))), 1e-6);
  }
  {  // deterministic across thread counts
    auto q = twtest::randn(50 * 3 * 32, 41), k = twtest::randn(70 * 3 * 32, 42), v = twtest::randn(70 * 3 * 32, 43);
    TW_CHECK(same_for_thread_counts([&] {
      Guarded o({50, 3, 32});
      tw::ops::attention({view(q, {50, 3, 32}), view(k, {70, 3, 32}), view(v, {70, 3, 32}), o.t()});
      return o.values();
    }));
  }
  {  // structured: equal keys → mean of v; explicit scale; one key → copies v
    const int64_t L = 9, d = 8;
    auto q = twtest::randn(static_cast<size_t>(L * d), 5);
    std::vector<float> k(static_cast<size_t>(L * d), 0.5f), v = arange(static_cast<size_t>(L * d));
    Guarded o({L, 1, d});
    tw::ops::attention({view(q, {L, 1, d}), view(k, {L, 1, d}), view(v, {L, 1, d}), o.t(), 0.3f});
    for (int64_t i = 0; i < L; ++i)
      for (int64_t c = 0; c < d; ++c) TW_CHECK(std::fabs(o.data()[i * d + c] - float(32 + c)) < 1e-5f);
    Guarded o1({L, 1, d});
    tw::ops::attention({view(q, {L, 1, d}), view(k, {1, 1, d}), view(v, {1, 1, d}), o1.t()});
    for (int64_t i = 0; i < L; ++i)
      for (int64_t c = 0; c < d; ++c) TW_CHECK(o1.data()[i * d + c] == v[size_t(c)]);
  }
  {  // PyTorch SDPA math backend, fp32 (itself ~5e-7 from fp64)
    Golden g("attention");
    auto q = g.f32("q_cross"), k = g.f32("k_cross"), v = g.f32("v_cross");
    Guarded o({77, 3, 128});
    tw::ops::attention({view(q, {77, 3, 128}), view(k, {50, 3, 128}), view(v, {50, 3, 128}), o.t()});
    report("torch SDPA fp32, cross 77x50, 3 heads, d128", rel_l2(o.values(), g.f32("o_cross")), 2e-6);
    q = g.f32("q_self"); k = g.f32("k_self"); v = g.f32("v_self");
    Guarded os({130, 2, 64});
    tw::ops::attention({view(q, {130, 2, 64}), view(k, {130, 2, 64}), view(v, {130, 2, 64}), os.t()});
    report("torch SDPA fp32, self 130, 2 heads, d64", rel_l2(os.values(), g.f32("o_self")), 2e-6);
  }
  {
    std::vector<float> q(2 * 4), k(3 * 4), o(2 * 4);
    auto msg = twtest::expect_throw([&] { tw::ops::attention({view(q, {2, 1, 4}), view(k, {3, 1, 4}), view(k, {3, 2, 2}), view(o, {2, 1, 4})}); });
    TW_CHECK_MSG(msg.find("attention: v has shape [3, 2, 2], expected [3, 1, 4]") != std::string::npos, "%s", msg.c_str());
  }
  return twtest::finish("attention_test");
}
