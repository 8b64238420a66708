// Two Wan 14B experts (Wan2.2 A14B's shape: 40 blocks, dim 5120, ffn 13824; T2V patch embedding
// so no image condition is needed) with random bf16 weights built in memory (no 57 GB on disk),
// sampled 4 rCM steps (high, high, low, low) with the experts resident and parked. Reports load
// time, per-step time of a warm job, the swap traffic, an unplanned forward (blocks fetched on
// demand), whether the outputs are bit-identical, and the physical limit of a swap: one expert's
// block bytes / pinned H2D bandwidth measured in the same run. One JSON line per result.
//   experts_bench [width=832] [height=480] [frames=81] [attention=sagesla] [modes=resident,parked]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

#include "loader/checkpoint.h"
#include "models/wan_dit_cuda.h"
#include "pipeline/generate.h"
#include "sampler/rcm.h"

using namespace tw;
using namespace tw::engine;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

namespace {

// 1 GiB of bf16 values, uniform with std 1/sqrt(5120) (the bench's weights are windows into it).
std::vector<uint16_t> make_pool(size_t n) {
  std::vector<uint16_t> pool(n);
  const unsigned nt = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < nt; ++t)
    ts.emplace_back([&, t] {
      uint64_t s = 0x9e3779b97f4a7c15ull * (t + 1);
      const float scale = std::sqrt(3.f) / std::sqrt(5120.f);
      for (size_t i = t; i < n; i += nt) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        pool[i] = f32_to_bf16((float(s >> 40) / float(1 << 24) * 2.f - 1.f) * scale);
      }
    });
  for (auto& t : ts) t.join();
  return pool;
}

// The official key layout (as bench/native/dit_torch_baseline.py writes it) over windows of the pool;
// `seed` picks the windows, so the two experts hold different weights.
std::shared_ptr<loader::Checkpoint> make_expert(std::vector<uint16_t>& pool, uint64_t seed) {
  const int64_t D = 5120, F = 13824, NL = 40;
  std::vector<loader::TensorInfo> ts;
  uint64_t h = seed * 0x2545f4914f6cdd1dull;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    loader::TensorInfo ti;
    ti.name = name;
    ti.dtype = DType::BF16;
    ti.shape = shape;
    ti.data = pool.data() + (h >> 20) % (pool.size() - size_t(n));
    ts.push_back(std::move(ti));
  };
  auto lin = [&](const std::string& p, int64_t out, int64_t in) { add(p + ".weight", {out, in}); add(p + ".bias", {out}); };
  lin("patch_embedding", D, 64);
  lin("text_embedding.0", D, 4096);
  lin("text_embedding.2", D, D);
  lin("time_embedding.0", D, 256);
  lin("time_embedding.2", D, D);
  lin("time_projection.1", 6 * D, D);
  lin("head.head", 64, D);
  add("head.modulation", {1, 2, D});
  for (int64_t i = 0; i < NL; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    add(p + "modulation", {1, 6, D});
    for (const char* a : {"self_attn", "cross_attn"}) {
      for (const char* n : {"q", "k", "v", "o"}) lin(p + a + "." + n, D, D);
      add(p + a + ".norm_q.weight", {D});
      add(p + a + ".norm_k.weight", {D});
    }
    lin(p + "self_attn.attn_op.local_attn.proj_l", 128, 128);
    add(p + "norm3.weight", {D});
    add(p + "norm3.bias", {D});
    lin(p + "ffn.0", F, D);
    lin(p + "ffn.2", D, F);
  }
  return std::make_shared<loader::Checkpoint>(loader::Checkpoint::from_tensors(std::move(ts)));
}

double h2d_gbps(size_t bytes) {
  void *h = nullptr, *d = nullptr;
  cudaHostAlloc(&h, bytes, cudaHostAllocDefault);
  cudaMalloc(&d, bytes);
  std::memset(h, 1, bytes);
  cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice);
  auto t = Clock::now();
  for (int i = 0; i < 4; ++i) cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice);
  const double ms = since(t);
  cudaFree(d);
  cudaFreeHost(h);
  return 4.0 * double(bytes) / ms / 1e6;
}

// Page-locking cost, the bulk of a parked pair's load: cudaHostAlloc (PinnedBuffer before) vs
// first-touching malloc'd memory from 16 threads and then cudaHostRegister (PinnedBuffer now).
void pin_probe(size_t bytes) {
  auto t = Clock::now();
  void* h = nullptr;
  cudaHostAlloc(&h, bytes, cudaHostAllocDefault);
  const double alloc_ms = since(t);
  cudaFreeHost(h);
  t = Clock::now();
  char* m = static_cast<char*>(std::aligned_alloc(4096, bytes));
  std::vector<std::thread> ts;
  for (int k = 0; k < 16; ++k)
    ts.emplace_back([&, k] { std::memset(m + bytes / 16 * size_t(k), 0, bytes / 16); });
  for (auto& th : ts) th.join();
  const double touch_ms = since(t);
  auto t2 = Clock::now();
  const cudaError_t e = cudaHostRegister(m, bytes, cudaHostRegisterDefault);
  const double reg_ms = since(t2);
  cudaHostUnregister(m);
  std::free(m);
  std::printf("{\"pin_probe_gib\": %.0f, \"cudaHostAlloc_ms\": %.0f, \"touch16_ms\": %.0f, \"cudaHostRegister_ms\": %.0f, \"register_ok\": %s}\n",
              double(bytes) / double(size_t(1) << 30), alloc_ms, touch_ms, reg_ms, e == cudaSuccess ? "true" : "false");
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t width = argc > 1 ? std::atoll(argv[1]) : 832, height = argc > 2 ? std::atoll(argv[2]) : 480;
  const int64_t frames = argc > 3 ? std::atoll(argv[3]) : 81;
  const std::string attention = argc > 4 ? argv[4] : "sagesla";
  const std::string modes = argc > 5 ? argv[5] : "resident,parked";
  try {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    auto t0 = Clock::now();
    std::vector<uint16_t> pool = make_pool(size_t(1) << 29);
    auto hi = WanDit::load(make_expert(pool, 1), nullptr, 512);
    auto lo = WanDit::load(make_expert(pool, 2), nullptr, 512);
    std::printf("{\"device\": \"%s\", \"random_weights_ms\": %.0f}\n", prop.name, since(t0));
    const double bw = h2d_gbps(size_t(1) << 30);
    pin_probe(size_t(8) << 30);

    const int64_t T = 1 + (frames - 1) / 4, H = height / 8, W = width / 8;
    std::vector<float> ctx(size_t(512 * 4096));
    for (size_t i = 0; i < ctx.size(); ++i) ctx[i] = float(int(i * 2654435761u % 2001) - 1000) * 1e-4f;
    Tensor ctx_t = Tensor::view(ctx.data(), DType::F32, {1, 512, 4096});
    RcmOptions o;
    o.steps = 4;
    o.seed = 7;
    o.attention.kind = parse_attention_kind(attention);
    o.attention.topk = 0.1f;
    std::vector<float> ref, ref_dense;
    for (const std::string mode : {"resident", "parked"}) {
      if (modes.find(mode) == std::string::npos) continue;
      WanDitCuda::PairOptions po;
      po.residency = parse_expert_residency(mode);
      auto tl = Clock::now();
      WanDitCuda::Pair p = WanDitCuda::create_pair(*hi, *lo, po);
      const double load_ms = since(tl);
      HostTensor out = HostTensor::empty(DType::F32, {1, 16, T, H, W});
      std::vector<double> step_ms;
      std::vector<float> first;
      double job_ms = 0;
      for (int job = 0; job < 2; ++job) {  // job 0 warms up (workspace, context K/V, scratch)
        step_ms.clear();
        auto ts = Clock::now(), tj = ts;
        WanDitCuda::plan_forwards(expert_order(*p.high, p.low.get(), o));
        rcm_sample(*p.high, p.low.get(), ctx_t, Tensor{}, o, out.t(),
                   [&](const ProgressEvent&) { step_ms.push_back(since(ts)); ts = Clock::now(); }, nullptr);
        job_ms = since(tj);
        if (job == 0) first.assign(out.f32(), out.f32() + out.numel());
      }
      size_t rerun_diff = 0;  // the same job twice in one mode: are the kernels bit-reproducible?
      for (size_t i = 0; i < first.size(); ++i) rerun_diff += std::memcmp(&first[i], out.f32() + i, 4) != 0;
      // Dense attention (no float atomics) on a short clip: must be bit-identical across modes.
      RcmOptions od = o;
      od.attention.kind = AttentionKind::Original;
      HostTensor small = HostTensor::empty(DType::F32, {1, 16, 2, H, W});
      WanDitCuda::plan_forwards(expert_order(*p.high, p.low.get(), od));
      rcm_sample(*p.high, p.low.get(), ctx_t, Tensor{}, od, small.t(), {}, nullptr);
      std::vector<float> dense(small.f32(), small.f32() + small.numel());
      // An unplanned forward of the low expert (a parked pair holds the high one now: every block
      // is fetched on demand, pipelined behind the compute of the blocks before it).
      double tstep = rcm_timestep_input(0.6);
      HostTensor v = HostTensor::empty(DType::F32, {1, 16, T, H, W});
      auto tu = Clock::now();
      p.low->forward(out.t(), Tensor{}, &tstep, ctx_t, o.attention, v.t());
      const double unplanned_ms = since(tu);
      // How far ahead of the compute the on-demand fetch should queue blocks (TW_FETCH_AHEAD).
      std::string ahead_ms;
      if (p.parked)
        for (int ahead : {0, 1, 4, 40}) {
          p.high->forward(out.t(), Tensor{}, &tstep, ctx_t, o.attention, v.t());  // slots back to high
          setenv("TW_FETCH_AHEAD", std::to_string(ahead).c_str(), 1);
          auto ta = Clock::now();
          p.low->forward(out.t(), Tensor{}, &tstep, ctx_t, o.attention, v.t());
          ahead_ms += (ahead_ms.empty() ? "" : ", ") + std::string("\"") + std::to_string(ahead) + "\": " + std::to_string(since(ta));
          unsetenv("TW_FETCH_AHEAD");
        }
      if (p.parked) std::printf("{\"unplanned_low_forward_ms_by_fetch_ahead\": {%s}}\n", ahead_ms.c_str());
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      const auto hs = p.high->swap_stats(), ls = p.low->swap_stats();
      const double block_gb = double(p.high->weight_bytes()) / 1e9;
      std::printf("{\"mode\": \"%s\", \"reason\": \"%s\", \"load_ms\": %.0f, \"pin_ms\": %.0f, \"rerun_values_differing\": %zu, \"job_ms\": %.1f, \"step_ms\": [%.1f, %.1f, %.1f, %.1f], "
                  "\"unplanned_low_forward_ms\": %.1f, \"prefetched_blocks\": [%lld, %lld], \"demand_blocks\": [%lld, %lld], "
                  "\"gpu_used_gib\": %.2f, \"expert_gb\": %.2f, \"h2d_pinned_gbps\": %.1f, \"swap_limit_ms\": %.0f, "
                  "\"tokens\": %lld, \"attention\": \"%s\", \"device\": \"%s\"}\n",
                  mode.c_str(), p.reason.c_str(), load_ms, p.pin_ms, rerun_diff, job_ms, step_ms[0], step_ms[1], step_ms[2], step_ms[3], unplanned_ms,
                  hs.prefetched_blocks, ls.prefetched_blocks, hs.demand_blocks, ls.demand_blocks,
                  double(total_b - free_b) / double(1 << 30), block_gb, bw, block_gb / bw * 1e3,
                  (long long)(T * H / 2 * W / 2), attention.c_str(), prop.name);
      std::fflush(stdout);
      std::vector<float> got(out.f32(), out.f32() + out.numel());
      if (ref.empty()) {
        ref = got;
        ref_dense = dense;
      } else {
        size_t dd = 0;
        for (size_t i = 0; i < dense.size(); ++i) dd += std::memcmp(&dense[i], &ref_dense[i], 4) != 0;
        std::printf("{\"compare\": \"parked vs resident, dense attention, 2 latent frames\", \"values_differing\": %zu, \"of\": %zu}\n",
                    dd, dense.size());
        size_t diff = 0;
        double num = 0, den = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
          diff += std::memcmp(&got[i], &ref[i], 4) != 0;
          num += double(got[i] - ref[i]) * double(got[i] - ref[i]);
          den += double(ref[i]) * double(ref[i]);
        }
        std::printf("{\"compare\": \"parked vs resident\", \"values_differing\": %zu, \"of\": %zu, \"rel_l2\": %.3g}\n", diff,
                    ref.size(), std::sqrt(num / (den > 0 ? den : 1)));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "experts_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
