// rCM few-step sampler of TurboDiffusion (facts/wan-models.md §5): TrigFlow angles → rectified-flow
// times, 1–4 steps, SDE or ODE updates, float64 state, timesteps rounded to bf16 ×1000, Wan2.2
// high/low expert switching at t < 0.9.
#pragma once

#include <cstdint>
#include <vector>

#include "core/progress.h"
#include "models/wan_dit.h"

namespace tw::engine {

// RF times t_0..t_N (t_N = 0) for N steps: angles [atan(σmax), 1.5, 1.4, 1.0][:N] + [0].
std::vector<double> rcm_times(int steps, double sigma_max);
// The network's timestep input for RF time t: bf16(float64(fp32(t)) · 1000).
double rcm_timestep_input(double t);

struct RcmOptions {
  int steps = 4;
  double sigma_max = 80.0;
  uint64_t seed = 0;
  bool ode = false;
  double boundary = 0.9;  // Wan2.2: switch from the high- to the low-noise expert once t < boundary
  AttentionOptions attention;
  // Optional injected noise (tests reproduce the reference's draws): initial [B,16,T,H,W] and one
  // tensor of the same size per step. Null → drawn from `seed` with the engine's Philox stream.
  const float* initial_noise = nullptr;
  std::vector<const float*> step_noises;
};

struct RcmResult {
  std::vector<double> times;
  double denoise_ms = 0;
};

// Samples clean latents. latents_out: [B, 16, T, H, W] f32. context: [B, text_len, text_dim];
// cond: I2V condition [B, 20, T, H, W] or empty. low may be null (single-expert models).
RcmResult rcm_sample(const DitNetwork& high, const DitNetwork* low, const Tensor& context, const Tensor& cond,
                     const RcmOptions& opts, Tensor& latents_out, const ProgressFn& progress,
                     const CancelToken* cancel);

}  // namespace tw::engine
