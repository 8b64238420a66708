// Full DiT benchmark on the GPU: a 4-step rCM run (the sampler's host-side state included) over
// random bf16 weights at the real shapes written by dit_torch_baseline.py, which also times the
// PyTorch baseline in the same run. Prints one JSON line.
//   dit_bench <weights.safetensors> <T> <H> <W> <attention: original|sla|sagesla> <topk> [int8]
// With `int8` the block linears are quantized on upload and run as W8A8 (TurboDiffusion -quant math).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <cuda_runtime.h>

#include "models/wan_dit_cuda.h"
#include "sampler/rcm.h"

using namespace tw;
using namespace tw::engine;

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: dit_bench <weights> <T> <H> <W> <attention> <topk>\n");
    return 2;
  }
  const int64_t T = std::atoll(argv[2]), H = std::atoll(argv[3]), W = std::atoll(argv[4]);
  AttentionOptions attn;
  attn.kind = parse_attention_kind(argv[5]);
  attn.topk = float(std::atof(argv[6]));
  auto t_load = std::chrono::steady_clock::now();
  auto cpu = WanDit::load({argv[1]}, nullptr, 512);
  WanDitCuda::Options gopts;
  gopts.quantize_bf16 = argc > 7 && std::string(argv[7]) == "int8";
  auto gpu = WanDitCuda::create(*cpu, gopts);
  double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  const auto& c = cpu->config();
  HostTensor ctx = HostTensor::zeros(DType::F32, {1, 512, c.text_dim});
  for (int64_t i = 0; i < 20 * c.text_dim; ++i) ctx.f32()[i] = float((i * 2654435761u) % 1000) / 1000.f - 0.5f;
  HostTensor lat = HostTensor::empty(DType::F32, {1, 16, T, H, W});
  RcmOptions o;
  o.seed = 1;
  o.attention = attn;
  rcm_sample(*gpu, nullptr, ctx.t(), Tensor{}, o, lat.t(), {}, nullptr);  // warm-up (also fills the context cache)
  size_t free0 = 0, total = 0;
  cudaMemGetInfo(&free0, &total);
  auto t0 = std::chrono::steady_clock::now();
  const int reps = 3;
  for (int r = 0; r < reps; ++r) rcm_sample(*gpu, nullptr, ctx.t(), Tensor{}, o, lat.t(), {}, nullptr);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("{\"ours_4step_ms\": %.1f, \"linears\": \"%s\", \"attention\": \"%s\", \"topk\": %.2f, \"tokens\": %lld, \"load_ms\": %.0f, "
              "\"gpu_used_gib\": %.2f, \"device\": \"%s\"}\n",
              ms, gpu->int8_linears() ? "int8" : "bf16", argv[5], attn.topk, (long long)(T * H * W / 4), load_ms, double(total - free0) / (1 << 30), prop.name);
  return 0;
}
