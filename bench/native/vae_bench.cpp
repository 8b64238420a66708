// VAE decode benchmark on the GPU: latents [16, T, H, W] (random, normalized) → 1 + 4(T − 1) frames at
// 8H × 8W through WanVaeCuda, with the weights of a Wan2.1_VAE.pth-layout file (bench/native/
// vae_torch_baseline.py writes random ones at the real widths, and times the official PyTorch decode
// on the same file in the same run). Prints one JSON line.
// usage: vae_bench WEIGHTS [T=21] [H=60] [W=104] [iters=3]
//        vae_bench --conv Cin Cout T H W [iters=10]   (one causal 3×3×3 conv: chunk of T frames + 2 cached, pad 1)
//        vae_bench --parity WEIGHTS                   (GPU vs fp32 CPU decode of [16, 3, 6, 8] latents at these widths)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "models/wan_vae.h"
#include "models/wan_vae_cuda.h"
#ifdef TW_CUDA
#include <algorithm>

#include "tw/cuda/device.h"
#include "tw/cuda/testing.h"
#include "tw/ops_conv.h"
#endif

using namespace tw;

#ifdef TW_CUDA
// The conv op alone on the decoder's shapes: achieved TFLOP/s (events, median of iters).
int conv_bench(int argc, char** argv) {
  if (argc < 7) { std::fprintf(stderr, "usage: vae_bench --conv Cin Cout T H W [iters]\n"); return 2; }
  const int64_t Cin = std::atoll(argv[2]), Cout = std::atoll(argv[3]), T = std::atoll(argv[4]), H = std::atoll(argv[5]), W = std::atoll(argv[6]);
  const int iters = argc > 7 ? std::atoi(argv[7]) : 10;
  using cuda::testing::randn_fast;
  cuda::DeviceBuffer x = cuda::to_device(randn_fast(size_t(Cin * T * H * W), 1), DType::BF16);
  cuda::DeviceBuffer c = cuda::to_device(randn_fast(size_t(Cin * 2 * H * W), 2), DType::BF16);
  cuda::DeviceBuffer w = cuda::to_device(randn_fast(size_t(Cout * Cin * 27), 3, 0.02f), DType::BF16);
  cuda::DeviceBuffer b = cuda::to_device(randn_fast(size_t(Cout), 4), DType::BF16);
  cuda::DeviceBuffer y(size_t(Cout * T * H * W) * 2);
  ops::Conv3dParams p;
  p.x = x.view(DType::BF16, {Cin, T, H, W});
  p.cache = c.view(DType::BF16, {Cin, 2, H, W});
  p.w = w.view(DType::BF16, {Cout, Cin, 3, 3, 3});
  p.b = b.view(DType::BF16, {Cout});
  p.y = y.view(DType::BF16, {Cout, T, H, W});
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  ops::conv3d(p);
  cuda::synchronize();
  cudaEvent_t e0, e1;
  TW_CUDA_CHECK(cudaEventCreate(&e0));
  TW_CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<float> ms;
  for (int i = 0; i < iters; ++i) {
    TW_CUDA_CHECK(cudaEventRecord(e0, cuda::stream()));
    ops::conv3d(p);
    TW_CUDA_CHECK(cudaEventRecord(e1, cuda::stream()));
    TW_CUDA_CHECK(cudaEventSynchronize(e1));
    float t = 0;
    TW_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  const double flops = 2.0 * double(Cout) * double(Cin) * 27.0 * double(T * H * W);
  const char* g = std::getenv("TW_CONV_GATHER");
  const bool gather = (g && g[0] == '1') || Cin % 32 != 0;
  const char* wg = std::getenv("TW_CONV_WG");
  const char* nw = std::getenv("TW_CONV_NARROW");
  const bool narrow = !gather && Cout <= 4 && !(nw && nw[0] == '0');
  const std::string kernel = gather ? "gather" : narrow ? "direct (Cout <= 4)"
                             : cuda::conv_wgmma_available() && Cout % 96 == 0 ? std::string("wgmma") + (wg && *wg ? std::string(" ") + wg : "")
                                                                              : "channels-last mma.sync";
  std::printf("{\"impl\": \"turbowan conv3d %s\", \"Cin\": %lld, \"Cout\": %lld, \"T\": %lld, \"H\": %lld, \"W\": %lld, \"ms\": %.3f, \"tflops\": %.1f}\n",
              kernel.c_str(), (long long)Cin, (long long)Cout, (long long)T, (long long)H, (long long)W, ms[ms.size() / 2],
              flops / ms[ms.size() / 2] / 1e9);
  return 0;
}
#endif

#ifdef TW_CUDA
// The real-width decoder on a small latent, against the fp32 CPU model on the same weights: checks the
// channels-last conv path (every Wan width is a multiple of 32) end to end.
int parity(const char* weights) {
  auto cpu = engine::WanVae::load(weights);
  auto gpu = engine::WanVaeCuda::load(weights);
  std::vector<float> lat = cuda::testing::randn_fast(size_t(16 * 3 * 6 * 8), 11, 1.f);
  Tensor z = Tensor::view(lat.data(), DType::F32, {16, 3, 6, 8});
  HostTensor a = cpu->decode(z), b = gpu->decode(z);
  double num = 0, den = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(b.f32()[i]) - a.f32()[i];
    bad += !std::isfinite(b.f32()[i]);
    num += d * d;
    den += double(a.f32()[i]) * a.f32()[i];
  }
  std::vector<float> v = cuda::testing::randn_fast(size_t(3 * 5 * 48 * 64), 12, 0.5f);
  Tensor video = Tensor::view(v.data(), DType::F32, {3, 5, 48, 64});
  HostTensor ea = cpu->encode(video), eb = gpu->encode(video);
  double en = 0, ed = 0;
  for (int64_t i = 0; i < ea.numel(); ++i) {
    const double d = double(eb.f32()[i]) - ea.f32()[i];
    en += d * d;
    ed += double(ea.f32()[i]) * ea.f32()[i];
  }
  std::printf("{\"parity\": \"real widths, decode [16,3,6,8] / encode [3,5,48,64]\", \"decode_rel_l2\": %.4g, \"encode_rel_l2\": %.4g, \"nonfinite\": %lld}\n",
              std::sqrt(num / den), std::sqrt(en / ed), (long long)bad);
  return bad == 0 && std::sqrt(num / den) < 1e-1 && std::sqrt(en / ed) < 1e-1 ? 0 : 1;
}
#endif

int main(int argc, char** argv) {
#ifndef TW_CUDA
  std::printf("vae_bench: this build has no CUDA backend\n");
  return 0;
#else
  if (argc < 2) { std::fprintf(stderr, "usage: vae_bench WEIGHTS [T] [H] [W] [iters]\n"); return 2; }
  if (std::string(argv[1]) == "--parity" && argc > 2) {
    try { return parity(argv[2]); } catch (const std::exception& e) { std::fprintf(stderr, "vae_bench: %s\n", e.what()); return 1; }
  }
  if (std::string(argv[1]) == "--conv") {
    try { return conv_bench(argc, argv); } catch (const std::exception& e) { std::fprintf(stderr, "vae_bench: %s\n", e.what()); return 1; }
  }
  const int64_t T = argc > 2 ? std::atoll(argv[2]) : 21, H = argc > 3 ? std::atoll(argv[3]) : 60, W = argc > 4 ? std::atoll(argv[4]) : 104;
  const int iters = argc > 5 ? std::atoi(argv[5]) : 3;
  try {
    size_t free0 = 0, total = 0;
    TW_CUDA_CHECK(cudaMemGetInfo(&free0, &total));
    auto vae = engine::WanVaeCuda::load(argv[1]);
    size_t free1 = 0;
    TW_CUDA_CHECK(cudaMemGetInfo(&free1, &total));
    std::vector<float> lat = cuda::testing::randn_fast(size_t(16 * T * H * W), 7, 1.f);
    Tensor z = Tensor::view(lat.data(), DType::F32, {16, T, H, W});
    using Clock = std::chrono::steady_clock;
    auto time_device = [&] {
      cuda::synchronize();
      const auto t0 = Clock::now();
      int64_t frames = 0;
      vae->decode_device(z, [&](const Tensor& fr, int, int) { frames += fr.size(1); return true; });
      cuda::synchronize();
      if (frames != vae->decoded_frames(T)) throw Error("decoded " + std::to_string(frames) + " frames");
      return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };
    const double warm = time_device();  // first run: pool and scratch allocations, cuBLASLt plans
    std::vector<double> ms;
    for (int i = 0; i < iters; ++i) ms.push_back(time_device());
    std::sort(ms.begin(), ms.end());
    size_t free2 = 0;
    TW_CUDA_CHECK(cudaMemGetInfo(&free2, &total));
    // The same decode handing host F32 frames (what the pipeline consumes today).
    const auto t0 = Clock::now();
    vae->decode(z, [](const Tensor&, int, int) { return true; });
    const double host_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::printf("{\"impl\": \"turbowan\", \"T\": %lld, \"H\": %lld, \"W\": %lld, \"frames\": %lld, \"ms_median\": %.1f, \"ms_min\": %.1f, "
                "\"ms_first\": %.1f, \"ms_with_host_f32\": %.1f, \"weights_mb\": %.1f, \"activation_pool_mb\": %.1f, "
                "\"activation_pool_peak_mb\": %.1f, \"device_used_mb\": %.1f}\n",
                (long long)T, (long long)H, (long long)W, (long long)vae->decoded_frames(T), ms[ms.size() / 2], ms[0], warm, host_ms,
                vae->weight_bytes() / 1e6, vae->activation_bytes() / 1e6, vae->activation_peak_bytes() / 1e6,
                double(free0 - free2) / 1e6);
    (void)free1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vae_bench: %s\n", e.what());
    return 1;
  }
  return 0;
#endif
}
