#include "sampler/rcm.h"

#include <chrono>
#include <cmath>

#include "core/rng.h"

namespace tw::engine {

std::vector<double> rcm_times(int steps, double sigma_max) {
  if (steps < 1 || steps > 4) throw Error("steps must be between 1 and 4, got " + std::to_string(steps));
  if (!(sigma_max > 0)) throw Error("sigma_max must be positive");
  const double mid[3] = {1.5, 1.4, 1.0};
  std::vector<double> angles{std::atan(sigma_max)};
  for (int i = 1; i < steps; ++i) angles.push_back(mid[i - 1]);
  angles.push_back(0.0);
  std::vector<double> t;
  for (double a : angles) t.push_back(std::sin(a) / (std::sin(a) + std::cos(a)));
  return t;
}

double rcm_timestep_input(double t) { return double(round_bf16(float(double(float(t)) * 1000.0))); }

RcmResult rcm_sample(const DitNetwork& high, const DitNetwork* low, const Tensor& context, const Tensor& cond,
                     const RcmOptions& opts, Tensor& latents_out, const ProgressFn& progress,
                     const CancelToken* cancel) {
  const char* op = "rcm_sample";
  check(latents_out.ndim == 5 && latents_out.contiguous(), op, "latents must be a contiguous [B, 16, T, H, W] tensor");
  check(opts.step_noises.empty() || int(opts.step_noises.size()) == opts.steps, op,
        "give one SDE noise tensor per step (" + std::to_string(opts.steps) + "), got " +
            std::to_string(opts.step_noises.size()));
  const auto t0 = std::chrono::steady_clock::now();
  RcmResult res;
  res.times = rcm_times(opts.steps, opts.sigma_max);
  const int64_t n = latents_out.numel(), B = latents_out.shape[0];

  // State x = float64(ε0) · t0 (pure scaled noise).
  std::vector<float> noise(static_cast<size_t>(n));
  if (opts.initial_noise) std::copy(opts.initial_noise, opts.initial_noise + n, noise.begin());
  else gaussian_noise(opts.seed, 0, noise.data(), n);
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = double(noise[size_t(i)]) * res.times[0];

  HostTensor net_in = HostTensor::empty(DType::F32, latents_out.shape_vec());
  HostTensor v = HostTensor::empty(DType::F32, latents_out.shape_vec());
  const DitNetwork* net = &high;
  for (int i = 0; i < opts.steps; ++i) {
    throw_if_cancelled(cancel);
    const double t_cur = res.times[size_t(i)], t_next = res.times[size_t(i) + 1];
    if (low && t_cur < opts.boundary) net = low;
    for (int64_t j = 0; j < n; ++j) net_in.f32()[j] = float(x[size_t(j)]);
    std::vector<double> ts(size_t(B), rcm_timestep_input(t_cur));
    net->forward(net_in.t(), cond, ts.data(), context, opts.attention, v.t());
    const float* vv = v.f32();
    if (opts.ode) {
      for (int64_t j = 0; j < n; ++j) x[size_t(j)] -= (t_cur - t_next) * double(vv[j]);
    } else {
      // x ← (1 − t_next)·x̂0 + t_next·z with x̂0 = x − t_cur·v; z is drawn even on the last step.
      if (!opts.step_noises.empty()) std::copy(opts.step_noises[size_t(i)], opts.step_noises[size_t(i)] + n, noise.begin());
      else gaussian_noise(opts.seed, uint64_t(i) + 1, noise.data(), n);
      for (int64_t j = 0; j < n; ++j) {
        double x0 = x[size_t(j)] - t_cur * double(vv[j]);
        x[size_t(j)] = (1.0 - t_next) * x0 + t_next * double(noise[size_t(j)]);
      }
    }
    if (progress) progress({"denoise", i + 1, opts.steps});
  }
  float* out = latents_out.ptr<float>();
  for (int64_t j = 0; j < n; ++j) out[j] = float(x[size_t(j)]);
  res.denoise_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace tw::engine
