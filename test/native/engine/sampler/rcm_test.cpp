// rCM sampler vs a float64 re-implementation of TurboDiffusion's loop driving the official Wan2.1
// model (scripts/golden/make_dit_goldens.py), with the reference's noise injected.
#include <cmath>
#include <cstdio>

#include "core/rng.h"
#include "loader/checkpoint.h"
#include "sampler/rcm.h"
#include "tw_test.h"

using namespace tw;
using namespace tw::engine;

int main() {
  // Times and timestep inputs (facts §5).
  auto t = rcm_times(4, 80.0);
  TW_CHECK(t.size() == 5 && std::fabs(t[0] - 0.98765432) < 1e-8 && std::fabs(t[1] - 0.93378106) < 1e-8 &&
           std::fabs(t[2] - 0.85289539) < 1e-8 && std::fabs(t[3] - 0.60897905) < 1e-8 && t[4] == 0.0);
  TW_CHECK(rcm_timestep_input(t[0]) == 988 && rcm_timestep_input(t[1]) == 932 && rcm_timestep_input(t[2]) == 852 &&
           rcm_timestep_input(t[3]) == 608);
  TW_CHECK(rcm_timestep_input(rcm_times(1, 200.0)[0]) == 996 && rcm_timestep_input(rcm_times(1, 1600.0)[0]) == 1000);
  TW_CHECK(!twtest::expect_throw([] { rcm_times(5, 80.0); }).empty());
  TW_CHECK(!twtest::expect_throw([] { rcm_times(0, 80.0); }).empty());

  // Seeded noise: deterministic, roughly standard normal, different per stream.
  std::vector<float> a(100000), b(100000), c(100000);
  gaussian_noise(42, 0, a.data(), int64_t(a.size()));
  gaussian_noise(42, 0, b.data(), int64_t(b.size()));
  gaussian_noise(42, 1, c.data(), int64_t(c.size()));
  double mean = 0, var = 0;
  for (float v : a) mean += v;
  mean /= double(a.size());
  for (float v : a) var += (v - mean) * (v - mean);
  var /= double(a.size());
  TW_CHECK(a == b && a != c);
  TW_CHECK_MSG(std::fabs(mean) < 0.01 && std::fabs(var - 1.0) < 0.02, "mean %g var %g", mean, var);

  const std::string dir = "test/fixtures/dit/";
  auto g = loader::Checkpoint::open(dir + "golden.safetensors");
  Tensor ctx = g.tensor("context");
  auto t2v = WanDit::load({dir + "t2v.pth"}, nullptr, 512);
  auto run = [&](const WanDit& hi, const WanDit* lo, int steps, double sigma, bool ode, const Tensor& cond,
                 const char* golden) {
    RcmOptions o;
    o.steps = steps;
    o.sigma_max = sigma;
    o.ode = ode;
    o.initial_noise = g.tensor("sample.noise0").ptr<float>();
    if (!ode)
      for (int i = 1; i <= steps; ++i) o.step_noises.push_back(g.tensor("sample.noise" + std::to_string(i)).ptr<float>());
    Tensor ref = g.tensor(golden);
    HostTensor out = HostTensor::empty(DType::F32, ref.shape_vec());
    int calls = 0;
    rcm_sample(hi, lo, ctx, cond, o, out.t(), [&](const ProgressEvent& p) { TW_CHECK(p.step == ++calls && p.total == steps); }, nullptr);
    TW_CHECK(calls == steps);
    double e = twtest::rel_l2(out.f32(), ref.ptr<float>(), size_t(ref.numel()));
    std::printf("%s rel L2 = %.3g\n", golden, e);
    TW_CHECK_MSG(e <= 1e-5, "%s rel L2 %.3g > 1e-5", golden, e);
  };
  run(*t2v, nullptr, 4, 80.0, false, Tensor{}, "sample.t2v_sde4");
  run(*t2v, nullptr, 2, 200.0, false, Tensor{}, "sample.t2v_sde2");
  auto hi = WanDit::load({dir + "i2v-high.safetensors"}, nullptr, 512);
  auto lo = WanDit::load({dir + "i2v-low.safetensors"}, nullptr, 512);
  run(*hi, lo.get(), 4, 200.0, true, g.tensor("i2v.cond"), "sample.i2v_ode4");

  // Cancellation stops at the next step boundary.
  {
    CancelToken cancel;
    RcmOptions o;
    o.seed = 1;
    HostTensor out = HostTensor::empty(DType::F32, {1, 16, 3, 8, 8});
    int steps_done = 0;
    std::string msg = twtest::expect_throw([&] {
      rcm_sample(*t2v, nullptr, ctx, Tensor{}, o, out.t(), [&](const ProgressEvent&) { if (++steps_done == 2) cancel.cancel(); }, &cancel);
    });
    TW_CHECK(msg == "cancelled" && steps_done == 2);
  }
  return twtest::finish("rcm_test");
}
