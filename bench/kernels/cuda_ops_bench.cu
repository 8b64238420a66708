// Times the CUDA ops at the Wan DiT shapes with CUDA events (warm-up, then the median of N runs).
// Prints one machine-readable line per case:
//   RESULT <op> <shape> <ms> <flop> <bytes>
// scripts/gpu/sdpa_bench.py times the PyTorch baselines at the same shapes in the same run and
// scripts/gpu/report.py joins both into bench/results/<date>-<device>.md.
// Usage: cuda_ops_bench [attention|sla|linear|elementwise|all]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <cuda_bf16.h>

#include "tw/cuda/device.h"
#include "tw/cuda/testing.h"
#include "tw/ops.h"

using namespace tw;
using tw::cuda::DeviceBuffer;

namespace {

double time_ms(const std::function<void()>& fn, int reps) {
  fn();  // warm-up (plans, attributes, scratch growth)
  TW_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> ms;
  cudaEvent_t a, b;
  TW_CUDA_CHECK(cudaEventCreate(&a));
  TW_CUDA_CHECK(cudaEventCreate(&b));
  for (int r = 0; r < reps; ++r) {
    TW_CUDA_CHECK(cudaEventRecord(a, cuda::stream()));
    fn();
    TW_CUDA_CHECK(cudaEventRecord(b, cuda::stream()));
    TW_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    TW_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Attention kernel variant under test (TW_ATTN_MINBLOCKS), appended to the op name as "@mbN".
std::string variant_suffix() {
  const char* e = std::getenv("TW_ATTN_MINBLOCKS");
  const char* w = std::getenv("TW_SAGESLA_KERNEL");
  return (e ? std::string("@mb") + e : std::string()) + (w ? std::string("@") + w : std::string());
}

void result(const char* op_base, const std::string& shape, double ms, double flop, double bytes) {
  const bool attn = std::string(op_base).find("attention") != std::string::npos || std::string(op_base).find("sla") != std::string::npos;
  const std::string name = std::string(op_base) + (attn ? variant_suffix() : "");
  const char* op = name.c_str();
  std::printf("RESULT %s %s %.4f %.6e %.6e\n", op, shape.c_str(), ms, flop, bytes);
  std::printf("  %-22s %-28s %9.3f ms  %7.1f TFLOP/s  %7.1f GB/s\n", op, shape.c_str(), ms, flop / ms * 1e-9, bytes / ms * 1e-6);
  std::fflush(stdout);
}

// Random bf16 device data without a host round trip of the big tensors.
__global__ void fill_kernel(__nv_bfloat16* p, int64_t n, uint64_t seed, float stddev) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t s = (uint64_t(i) + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    s ^= s >> 31; s *= 0xBF58476D1CE4E5B9ull; s ^= s >> 27;
    float acc = 0.f;
    for (int j = 0; j < 4; ++j) { acc += float((s >> (16 * j)) & 0xFFFF) * (1.f / 65536.f); }
    p[i] = __float2bfloat16_rn((acc - 2.f) * 1.7320508f * stddev);
  }
}

__global__ void fill_i8_kernel(int8_t* p, int64_t n, uint64_t seed) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t s = (uint64_t(i) + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    s ^= s >> 31; s *= 0xBF58476D1CE4E5B9ull; s ^= s >> 29;
    p[i] = int8_t(int(s & 0xFF) - 128);
  }
}

DeviceBuffer rand_bf16(int64_t n, uint64_t seed, float stddev = 1.f) {
  DeviceBuffer b(size_t(n) * 2);
  fill_kernel<<<4096, 256, 0, cuda::stream()>>>(b.as<__nv_bfloat16>(), n, seed, stddev);
  TW_CUDA_CHECK_LAUNCH(fill_kernel);
  return b;
}

std::string shp(std::initializer_list<int64_t> s) {
  std::string r;
  for (int64_t x : s) r += (r.empty() ? "" : "x") + std::to_string(x);
  return r;
}

void bench_attention(bool sla) {
  struct S { int64_t H, L, Lk; int reps; };
  const S shapes[] = {{12, 32760, 32760, 10}, {40, 75600, 75600, 3}, {12, 32760, 512, 20}, {40, 75600, 512, 10}};
  for (const S& s : shapes) {
    if (sla && s.Lk != s.L) continue;
    const int64_t nq = s.L * s.H * 128, nk = s.Lk * s.H * 128;
    DeviceBuffer q = rand_bf16(nq, 1), k = rand_bf16(nk, 2), v = rand_bf16(nk, 3), o(size_t(nq) * 2);
    const std::string shape = shp({1, s.H, s.L, s.Lk, 128});
    if (!sla) {
      ops::AttentionParams p;
      p.q = q.view(DType::BF16, {s.L, s.H, 128});
      p.k = k.view(DType::BF16, {s.Lk, s.H, 128});
      p.v = v.view(DType::BF16, {s.Lk, s.H, 128});
      p.o = o.view(DType::BF16, {s.L, s.H, 128});
      const double ms = time_ms([&] { ops::attention(p); }, s.reps);
      result("attention", shape, ms, 4.0 * s.H * s.L * s.Lk * 128, 2.0 * (2 * nq + 2 * nk));
    } else {
      DeviceBuffer pw = rand_bf16(128 * 128, 4, 0.09f), pb = rand_bf16(128, 5, 0.1f);
      for (bool quantized : {false, true}) {
        ops::SparseLinearAttentionParams p;
        p.q = q.view(DType::BF16, {s.L, s.H, 128});
        p.k = k.view(DType::BF16, {s.L, s.H, 128});
        p.v = v.view(DType::BF16, {s.L, s.H, 128});
        p.o = o.view(DType::BF16, {s.L, s.H, 128});
        p.proj_w = pw.view(DType::BF16, {128, 128});
        p.proj_b = pb.view(DType::BF16, {128});
        p.topk = 0.1f; p.blk_q = 64; p.blk_k = 128; p.quantized = quantized;
        const int64_t n_sel = ops::sla_selected_blocks(s.L, 128, 0.1f);
        const double ms = time_ms([&] { ops::sparse_linear_attention(p); }, s.reps);
        // Sparse-branch FLOPs (the attended keys) + linear branch (≈ 4 GEMMs of 128×128 per token·head).
        const double flop = 4.0 * s.H * s.L * double(n_sel * 128) * 128 + 8.0 * s.H * s.L * 128 * 128;
        result(quantized ? "sagesla_topk0.1" : "sla_topk0.1", shape, ms, flop, 2.0 * 4 * nq);
        setenv("TW_SLA_TIMING", "1", 1);  // one more call with the stage breakdown on stderr
        ops::sparse_linear_attention(p);
        cuda::synchronize();
        unsetenv("TW_SLA_TIMING");
      }
    }
  }
}

void bench_linear() {
  struct S { int64_t M, N, K; };
  const S shapes[] = {{32760, 1536, 1536}, {32760, 8960, 1536}, {32760, 1536, 8960}, {75600, 5120, 5120}, {75600, 13824, 5120},
                      {75600, 5120, 13824}};
  for (const S& s : shapes) {
    DeviceBuffer x = rand_bf16(s.M * s.K, 1), w = rand_bf16(s.N * s.K, 2, 0.03f), b = rand_bf16(s.N, 3), y(size_t(s.M * s.N) * 2);
    ops::LinearParams p;
    p.x = x.view(DType::BF16, {s.M, s.K});
    p.w = w.view(DType::BF16, {s.N, s.K});
    p.b = b.view(DType::BF16, {s.N});
    p.y = y.view(DType::BF16, {s.M, s.N});
    const double ms = time_ms([&] { ops::linear(p); }, 10);
    result("linear_bf16", shp({s.M, s.N, s.K}), ms, 2.0 * s.M * s.N * s.K, 2.0 * (s.M * s.K + s.N * s.K + s.M * s.N));
    // W8A8 with 128×128 block scales: activation quantization + int8 GEMM, same shapes.
    DeviceBuffer wq(size_t(s.N * s.K));
    fill_i8_kernel<<<4096, 256, 0, cuda::stream()>>>(wq.as<int8_t>(), s.N * s.K, 7);
    std::vector<float> wsv(size_t(((s.N + 127) / 128) * (s.K / 128)), 1e-3f);
    DeviceBuffer ws = cuda::to_device(wsv, DType::F32);
    ops::LinearInt8Params q;
    q.x = p.x; q.b = p.b; q.y = p.y;
    q.w_q = wq.view(DType::I8, {s.N, s.K});
    q.w_scale = ws.view(DType::F32, {(s.N + 127) / 128, s.K / 128});
    const double ms8 = time_ms([&] { ops::linear_int8(q); }, 10);
    result("linear_int8", shp({s.M, s.N, s.K}), ms8, 2.0 * s.M * s.N * s.K, 2.0 * s.M * s.K + s.N * s.K + 2.0 * s.M * s.N);
    ops::QuantizeInt8Params qa;
    DeviceBuffer xq(size_t(s.M * s.K)), xs(size_t(((s.M + 127) / 128) * (s.K / 128)) * 4);
    qa.x = p.x; qa.q = xq.view(DType::I8, {s.M, s.K}); qa.scale = xs.view(DType::F32, {(s.M + 127) / 128, s.K / 128});
    result("quantize_int8", shp({s.M, s.K}), time_ms([&] { ops::quantize_int8_block128(qa); }, 10), 0, 3.0 * s.M * s.K);
  }
}

void bench_elementwise() {
  const int64_t R = 32760, D = 1536, n = R * D;
  DeviceBuffer x = rand_bf16(n, 1), y(size_t(n) * 2), w = rand_bf16(D, 2), xs = rand_bf16(R * 12 * 128, 3);
  std::vector<float> ones(size_t(D), 0.1f);
  DeviceBuffer sc = cuda::to_device(ones, DType::F32), sh = cuda::to_device(ones, DType::F32);
  const std::string shape = shp({R, D});
  {
    ops::LayerNormParams p;
    p.x = x.view(DType::BF16, {R, D}); p.y = y.view(DType::BF16, {R, D});
    result("layer_norm", shape, time_ms([&] { ops::layer_norm(p); }, 20), 0, 4.0 * n);
  }
  {
    ops::RmsNormParams p;
    p.x = x.view(DType::BF16, {R, D}); p.y = y.view(DType::BF16, {R, D}); p.w = w.view(DType::BF16, {D});
    result("rms_norm", shape, time_ms([&] { ops::rms_norm(p); }, 20), 0, 4.0 * n);
  }
  {
    ops::ModulateParams p;
    p.x = x.view(DType::BF16, {R, D}); p.y = y.view(DType::BF16, {R, D});
    p.scale = sc.view(DType::F32, {D}); p.shift = sh.view(DType::F32, {D});
    result("modulate", shape, time_ms([&] { ops::modulate(p); }, 20), 0, 4.0 * n);
  }
  {
    ops::GatedAddParams p;
    p.x = y.view(DType::BF16, {R, D}); p.y = x.view(DType::BF16, {R, D}); p.gate = sc.view(DType::F32, {D});
    result("gated_add", shape, time_ms([&] { ops::gated_add(p); }, 20), 0, 6.0 * n);
  }
  {
    ops::ActivationParams p;
    p.x = x.view(DType::BF16, {R, D}); p.y = y.view(DType::BF16, {R, D}); p.act = ops::Activation::GeluTanh;
    result("gelu_tanh", shape, time_ms([&] { ops::activation(p); }, 20), 0, 4.0 * n);
  }
  {
    ops::Rope3dParams p;
    p.x = xs.view(DType::BF16, {R, 12, 128}); p.T = 21; p.H = 30; p.W = 52;
    result("rope3d", shp({R, 12, 128}), time_ms([&] { ops::rope3d(p); }, 20), 0, 4.0 * R * 12 * 128);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "all";
  try {
    cudaDeviceProp prop;
    TW_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("DEVICE %s\n", prop.name);
    if (what == "all" || what == "elementwise") bench_elementwise();
    if (what == "all" || what == "linear") bench_linear();
    if (what == "all" || what == "attention" || what == "attn") bench_attention(false);
    if (what == "all" || what == "sla" || what == "attn") bench_attention(true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
