// One Wan2.1 DiT block (1.3B: D 1536, 12 heads, FFN 8960; 480p 81 frames: L 32760, 512 context
// rows) as the sequence of our CUDA ops, timed with CUDA events (median of 10 after a warm-up).
// Variants: bf16 linears or int8 W8A8 linears; self-attention SageSLA top-k 0.1 or dense.
// scripts/gpu/dit_block_torch.py times the same block in PyTorch (SDPA attention) in the same run.
// Prints `RESULT dit_block_<variant> <shape> <ms> 0 0` lines for scripts/gpu/report.py.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "tw/cuda/device.h"
#include "tw/ops.h"

using namespace tw;
using tw::cuda::DeviceBuffer;

namespace {

__global__ void fill_kernel(__nv_bfloat16* p, int64_t n, uint64_t seed, float stddev) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t s = (uint64_t(i) + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    s ^= s >> 31; s *= 0xBF58476D1CE4E5B9ull; s ^= s >> 27;
    float acc = 0.f;
    for (int j = 0; j < 4; ++j) acc += float((s >> (16 * j)) & 0xFFFF) * (1.f / 65536.f);
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

struct Buf {
  DeviceBuffer b;
  Tensor t;
};
uint64_t g_seed = 1;
Buf bf16(std::vector<int64_t> shape, float stddev = 1.f) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  Buf r{DeviceBuffer(size_t(n) * 2), {}};
  fill_kernel<<<2048, 256, 0, cuda::stream()>>>(r.b.as<__nv_bfloat16>(), n, ++g_seed, stddev);
  r.t = r.b.view(DType::BF16, shape);
  return r;
}
Buf f32(std::vector<int64_t> shape, float value) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  Buf r{cuda::to_device(std::vector<float>(size_t(n), value), DType::F32), {}};
  r.t = r.b.view(DType::F32, shape);
  return r;
}

struct Linear {
  Buf w, b, wq, ws;
  int64_t N, K;
  Linear(int64_t n, int64_t k) : N(n), K(k) {
    w = bf16({n, k}, 0.02f);
    b = bf16({n}, 0.02f);
    wq.b = DeviceBuffer(size_t(n * k));
    fill_i8_kernel<<<2048, 256, 0, cuda::stream()>>>(wq.b.as<int8_t>(), n * k, ++g_seed);
    wq.t = wq.b.view(DType::I8, {n, k});
    ws = f32({(n + 127) / 128, k / 128}, 2e-4f);
  }
  void operator()(const Tensor& x, const Tensor& y, bool int8) const {
    if (int8) {
      ops::LinearInt8Params p;
      p.x = x; p.w_q = wq.t; p.w_scale = ws.t; p.b = b.t; p.y = y;
      ops::linear_int8(p);
    } else {
      ops::LinearParams p;
      p.x = x; p.w = w.t; p.b = b.t; p.y = y;
      ops::linear(p);
    }
  }
};

}  // namespace

int main() {
  try {
    const int64_t L = 32760, D = 1536, H = 12, F = 8960, C = 512, T = 21, HH = 30, WW = 52;
    cudaDeviceProp prop;
    TW_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("DEVICE %s\n", prop.name);
    Linear sq(D, D), sk(D, D), sv(D, D), so(D, D), cq(D, D), ck(D, D), cv(D, D), co(D, D), f1(F, D), f2(D, F);
    Buf nq = f32({D}, 1.f), nk = f32({D}, 1.f), cnq = f32({D}, 1.f), cnk = f32({D}, 1.f), n3w = f32({D}, 1.f), n3b = f32({D}, 0.f);
    Buf sh1 = f32({D}, 0.1f), sc1 = f32({D}, 0.1f), g1 = f32({D}, 0.5f), sh2 = f32({D}, 0.1f), sc2 = f32({D}, 0.1f), g2 = f32({D}, 0.5f);
    Buf pw = bf16({128, 128}, 0.09f), pb = bf16({128}, 0.01f);
    Buf x = bf16({L, D}), ctx = bf16({C, D}), a = bf16({L, D}), q = bf16({L, D}), k = bf16({L, D}), v = bf16({L, D}),
        o = bf16({L, D}), y = bf16({L, D}), kc = bf16({C, D}), vc = bf16({C, D}), h = bf16({L, F});
    auto heads = [&](const Buf& t, int64_t rows) { return t.t.reshape({rows, H, 128}); };

    auto block = [&](bool int8, bool sparse) {
      ops::LayerNormParams ln; ln.x = x.t; ln.y = a.t; ops::layer_norm(ln);
      ops::ModulateParams md; md.x = a.t; md.y = a.t; md.scale = sc1.t; md.shift = sh1.t; ops::modulate(md);
      sq(a.t, q.t, int8); sk(a.t, k.t, int8); sv(a.t, v.t, int8);
      ops::RmsNormParams rn; rn.x = q.t; rn.y = q.t; rn.w = nq.t; ops::rms_norm(rn);
      rn.x = k.t; rn.y = k.t; rn.w = nk.t; ops::rms_norm(rn);
      ops::Rope3dParams rp; rp.T = T; rp.H = HH; rp.W = WW;
      rp.x = heads(q, L); ops::rope3d(rp);
      rp.x = heads(k, L); ops::rope3d(rp);
      if (sparse) {
        ops::SparseLinearAttentionParams sp;
        sp.q = heads(q, L); sp.k = heads(k, L); sp.v = heads(v, L); sp.o = heads(o, L);
        sp.proj_w = pw.t; sp.proj_b = pb.t; sp.topk = 0.1f; sp.blk_q = 64; sp.blk_k = 128; sp.quantized = true;
        ops::sparse_linear_attention(sp);
      } else {
        ops::AttentionParams at; at.q = heads(q, L); at.k = heads(k, L); at.v = heads(v, L); at.o = heads(o, L);
        ops::attention(at);
      }
      so(o.t, y.t, int8);
      ops::GatedAddParams ga; ga.x = x.t; ga.y = y.t; ga.gate = g1.t; ops::gated_add(ga);
      // cross-attention
      ln.x = x.t; ln.y = a.t; ln.w = n3w.t; ln.b = n3b.t; ops::layer_norm(ln);
      cq(a.t, q.t, int8);
      rn.x = q.t; rn.y = q.t; rn.w = cnq.t; ops::rms_norm(rn);
      ck(ctx.t, kc.t, int8); cv(ctx.t, vc.t, int8);
      rn.x = kc.t; rn.y = kc.t; rn.w = cnk.t; ops::rms_norm(rn);
      ops::AttentionParams ca; ca.q = heads(q, L); ca.k = heads(kc, C); ca.v = heads(vc, C); ca.o = heads(o, L);
      ops::attention(ca);
      co(o.t, y.t, int8);
      ops::GatedAddParams ra; ra.x = x.t; ra.y = y.t; ops::gated_add(ra);
      // FFN
      ops::LayerNormParams l2; l2.x = x.t; l2.y = a.t; ops::layer_norm(l2);
      md.x = a.t; md.y = a.t; md.scale = sc2.t; md.shift = sh2.t; ops::modulate(md);
      f1(a.t, h.t, int8);
      ops::ActivationParams ac; ac.x = h.t; ac.y = h.t; ac.act = ops::Activation::GeluTanh; ops::activation(ac);
      f2(h.t, y.t, int8);
      ga.x = x.t; ga.y = y.t; ga.gate = g2.t; ops::gated_add(ga);
    };

    struct V { const char* name; bool int8, sparse; };
    for (V var : {V{"dit_block_bf16_sagesla", false, true}, V{"dit_block_int8_sagesla", true, true}, V{"dit_block_bf16_dense", false, false}}) {
      block(var.int8, var.sparse);
      TW_CUDA_CHECK(cudaDeviceSynchronize());
      std::vector<float> ms;
      cudaEvent_t e0, e1;
      TW_CUDA_CHECK(cudaEventCreate(&e0));
      TW_CUDA_CHECK(cudaEventCreate(&e1));
      for (int r = 0; r < 10; ++r) {
        TW_CUDA_CHECK(cudaEventRecord(e0, cuda::stream()));
        block(var.int8, var.sparse);
        TW_CUDA_CHECK(cudaEventRecord(e1, cuda::stream()));
        TW_CUDA_CHECK(cudaEventSynchronize(e1));
        float t = 0;
        TW_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
        ms.push_back(t);
      }
      std::sort(ms.begin(), ms.end());
      std::printf("RESULT %s 1.3B-480p-L32760 %.4f 0 0\n", var.name, ms[ms.size() / 2]);
      std::printf("  %-26s %8.3f ms per block  → ×30 blocks ×4 steps = %.3f s\n", var.name, ms[ms.size() / 2],
                  ms[ms.size() / 2] * 120e-3);
      std::fflush(stdout);
    }
    size_t free_b = 0, total_b = 0;
    TW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    std::printf("  device memory in use after the block benches: %.2f GB\n", double(total_b - free_b) / 1e9);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
