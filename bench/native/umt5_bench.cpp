// umT5 encoder on the GPU, bf16 weights (baseline) vs int8 weights (UMT5Weights::Int8), same run:
// device memory held by the loaded encoder, load time, and encode latency per prompt at 512, 128
// and 25 real tokens (the ids are always padded to 512, as the pipeline passes them), plus the int8
// output's rel L2 against the bf16 output. Prints one JSON line per configuration and a summary.
//   umt5_bench <umt5.pth> [iters=10]
//   umt5_bench --parity <umt5.pth> [tokens=25]   the umt5_cuda_test comparisons at this file's shape:
//     GPU bf16 and int8 against the fp32 CPU encoder, int8 also against the CPU encoder on the int8
//     round-trip weights (which isolates the int8 rounding from the bf16 activations). Slow (CPU).
// The encoders are loaded one after the other (the first is freed before the second loads) so each
// memory figure is that encoder alone.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "../../test/native/engine/models/umt5_int8_emulate.h"
#include "models/umt5.h"
#include "models/umt5_cuda.h"
#include "tw_test.h"

using namespace tw;
using namespace tw::engine;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

static size_t used_bytes() {
  size_t free_b = 0, total = 0;
  cudaDeviceSynchronize();
  cudaMemGetInfo(&free_b, &total);
  return total - free_b;
}

struct Prompt {
  std::vector<int32_t> ids, mask;
};

// n real tokens (the last one </s> = 1), padded with 0 to 512.
static Prompt prompt(int n, int64_t vocab) {
  Prompt p;
  p.ids.assign(512, 0);
  p.mask.assign(512, 0);
  for (int i = 0; i < n; ++i) {
    p.ids[size_t(i)] = i == n - 1 ? 1 : int32_t(3 + (int64_t(i) * 7919 + 13) % (vocab - 3));
    p.mask[size_t(i)] = 1;
  }
  return p;
}

static int parity(const char* path, int n) {
  auto t0 = Clock::now();
  auto cpu = UMT5Encoder::load(path);
  auto emu = umt5test::int8_emulated(path);
  auto cpu8 = UMT5Encoder::load(emu->ckpt);
  const double prep_ms = since(t0);
  const Prompt p = prompt(n, cpu->config().vocab);
  t0 = Clock::now();
  const HostTensor ref = cpu->encode(p.ids, p.mask), ref8 = cpu8->encode(p.ids, p.mask);
  const double cpu_ms = since(t0) / 2;
  HostTensor bf16, int8;
  {
    auto g = UMT5EncoderCuda::load(path, UMT5Weights::BF16);
    bf16 = g->encode(p.ids, p.mask);
  }
  {
    auto g = UMT5EncoderCuda::load(path, UMT5Weights::Int8);
    int8 = g->encode(p.ids, p.mask);
  }
  const size_t N = size_t(ref.numel());
  std::printf("{\"parity\": \"%s\", \"layers\": %lld, \"tokens\": %d, \"gpu_bf16_vs_cpu\": %.4g, \"gpu_int8_vs_cpu_int8_weights\": %.4g, "
              "\"cpu_int8_weights_vs_cpu\": %.4g, \"gpu_int8_vs_cpu\": %.4g, \"gpu_int8_vs_gpu_bf16\": %.4g, \"max_step_error\": %.3f, "
              "\"cpu_encode_ms\": %.0f, \"prep_ms\": %.0f}\n",
              path, (long long)cpu->config().num_layers, n, twtest::rel_l2(bf16.f32(), ref.f32(), N), twtest::rel_l2(int8.f32(), ref8.f32(), N),
              twtest::rel_l2(ref8.f32(), ref.f32(), N), twtest::rel_l2(int8.f32(), ref.f32(), N), twtest::rel_l2(int8.f32(), bf16.f32(), N),
              emu->max_step_error, cpu_ms, prep_ms);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--parity") {
    try {
      return parity(argv[2], argc > 3 ? std::atoi(argv[3]) : 25);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "umt5_bench --parity: %s\n", e.what());
      return 1;
    }
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: umt5_bench <umt5.pth> [iters=10]\n");
    return 2;
  }
  const int iters = argc > 2 ? std::atoi(argv[2]) : 10;
  const int lengths[] = {512, 128, 25};
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  try {
    std::map<int, HostTensor> ref;  // bf16 outputs by length
    std::map<std::string, std::map<int, double>> median_ms;
    std::map<std::string, double> held_gib;
    for (UMT5Weights w : {UMT5Weights::BF16, UMT5Weights::Int8}) {
      const std::string name = umt5_weights_name(w);
      const size_t before = used_bytes();
      auto t0 = Clock::now();
      auto enc = UMT5EncoderCuda::load(argv[1], w);
      cudaDeviceSynchronize();
      const double load_ms = since(t0);
      const size_t after_load = used_bytes();
      held_gib[name] = double(after_load - before) / double(1ull << 30);
      for (int n : lengths) {
        const Prompt p = prompt(n, enc->config().vocab);
        HostTensor out = enc->encode(p.ids, p.mask);  // warm-up (first-use allocations, cuBLAS heuristics)
        enc->encode(p.ids, p.mask);
        std::vector<double> ms;
        for (int i = 0; i < iters; ++i) {
          auto t = Clock::now();
          enc->encode(p.ids, p.mask);  // synchronous: ends with the download of the result
          ms.push_back(since(t));
        }
        std::sort(ms.begin(), ms.end());
        median_ms[name][n] = ms[ms.size() / 2];
        double rel = 0;
        bool pad_zero = true, finite = true;
        const int64_t D = out.t().size(1);
        for (int64_t i = 0; i < 512 * D; ++i) {
          finite &= std::isfinite(out.f32()[i]);
          if (i / D >= n) pad_zero &= out.f32()[i] == 0.f;
        }
        if (w == UMT5Weights::BF16) ref[n] = out;
        else rel = twtest::rel_l2(out.f32(), ref[n].f32(), size_t(out.numel()));
        std::printf("{\"device\": \"%s\", \"weights\": \"%s\", \"tokens\": %d, \"encode_ms_median\": %.2f, \"encode_ms_min\": %.2f, "
                    "\"load_ms\": %.0f, \"held_gib\": %.3f, \"weight_bytes_gib\": %.3f, \"used_after_encode_gib\": %.3f, "
                    "\"rel_l2_vs_bf16\": %.4g, \"pad_rows_zero\": %s, \"finite\": %s}\n",
                    prop.name, name.c_str(), n, ms[ms.size() / 2], ms.front(), load_ms, held_gib[name],
                    double(enc->weight_bytes()) / double(1ull << 30), double(used_bytes() - before) / double(1ull << 30), rel,
                    pad_zero ? "true" : "false", finite ? "true" : "false");
        std::fflush(stdout);
      }
      enc.reset();
    }
    std::printf("summary (%s): held bf16 %.2f GiB, int8 %.2f GiB (%.2fx)", prop.name, held_gib["bf16"], held_gib["int8"],
                held_gib["int8"] / held_gib["bf16"]);
    for (int n : lengths)
      std::printf("; %d tokens: bf16 %.1f ms, int8 %.1f ms (%.2fx)", n, median_ms["bf16"][n], median_ms["int8"][n],
                  median_ms["int8"][n] / median_ms["bf16"][n]);
    std::printf("\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "umt5_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
