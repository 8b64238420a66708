// Whole job on one GPU without the video encoder: umT5 → 4 rCM steps over the DiT → VAE decode to
// RGB8, with random weights at the real shapes (1.3B DiT, umT5-XXL, Wan2.1 VAE). Measures cold
// start (files → ready) and a warm job's per-stage latency. Prints one JSON line.
//   e2e_bench <dit.safetensors> <umt5.pth> <vae.pth> [width=832] [height=480] [frames=81]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <cuda_runtime.h>

#include "models/umt5_cuda.h"
#include "models/wan_dit_cuda.h"
#include "models/wan_vae_cuda.h"
#include "pipeline/generate.h"

using namespace tw;
using namespace tw::engine;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: e2e_bench <dit> <umt5> <vae> [width] [height] [frames]\n");
    return 2;
  }
  try {
    auto t0 = Clock::now();
    PipelineModels m;
    m.high = WanDit::load({argv[1]}, nullptr, 512);
    m.vae = WanVae::load(argv[3]);
    m.high_gpu = WanDitCuda::create(*m.high);
    m.text_encoder_gpu = UMT5EncoderCuda::load(argv[2]);
    m.vae_gpu = WanVaeCuda::load(argv[3]);
    cudaDeviceSynchronize();
    const double cold_ms = since(t0);

    GenerateParams p;
    p.width = argc > 4 ? std::atoll(argv[4]) : 832;
    p.height = argc > 5 ? std::atoll(argv[5]) : 480;
    p.frames = argc > 6 ? std::atoll(argv[6]) : 81;
    p.ids.assign(512, 0);
    p.mask.assign(512, 0);
    for (int i = 0; i < 24; ++i) { p.ids[size_t(i)] = 100 + 37 * i; p.mask[size_t(i)] = 1; }
    p.ids[24] = 1;
    p.mask[24] = 1;
    p.rcm.steps = 4;
    p.rcm.seed = 7;
    p.rcm.attention.kind = AttentionKind::SageSla;
    p.rcm.attention.topk = 0.1f;

    generate(m, p, {}, nullptr);  // warm-up: first-use allocations, context cache
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    auto t1 = Clock::now();
    GenerateResult r = generate(m, p, {}, nullptr);
    const double warm_ms = since(t1);
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    std::printf("{\"device\": \"%s\", \"width\": %lld, \"height\": %lld, \"frames\": %lld, \"cold_start_ms\": %.0f, "
                "\"warm_total_ms\": %.1f, \"encode_text_ms\": %.1f, \"denoise_ms\": %.1f, \"decode_ms\": %.1f, "
                "\"gpu_used_gib\": %.2f, \"frame_bytes\": %zu}\n",
                prop.name, (long long)p.width, (long long)p.height, (long long)r.num_frames, cold_ms, warm_ms,
                r.timings_ms["encode-text"], r.timings_ms["denoise"], r.timings_ms["decode"],
                double(total_b - free_b) / (1 << 30), r.frames.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2e_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
