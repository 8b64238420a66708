// The GPU DiT (bf16 weights and residual stream, CUDA ops) against the fp32 CPU reference on the
// small random-weight models of test/fixtures/dit. Skips, saying so, where no GPU is available.
//
// Tolerance: the GPU keeps activations in bf16 (8-bit significand, relative rounding ≤ 2^-9 ≈ 2e-3)
// and rounds them at every op boundary, ~15 times per block in series; errors of that size add up
// in quadrature and get amplified by the norms, so a 2-layer model lands near 1e-2. 3e-2 catches
// any real mistake (a wrong index or a missing term gives O(1)).
#include <cstdio>
#include <vector>

#ifdef TW_CUDA
#include <cuda_runtime.h>
#endif

#include "loader/checkpoint.h"
#include "models/wan_dit_cuda.h"
#include "sampler/rcm.h"
#include "tw_test.h"

using namespace tw;
using namespace tw::engine;

int main() {
  if (!cuda_available()) {
    std::printf("wan_dit_cuda_test: skipped (no CUDA backend in this build or no GPU visible)\n");
    return 0;
  }
  const std::string dir = "test/fixtures/dit/";
  auto g = loader::Checkpoint::open(dir + "golden.safetensors");
  Tensor x = g.tensor("forward.x"), ctx = g.tensor("context");
  auto cpu = WanDit::load({dir + "t2v.pth"}, nullptr, 512);
  auto gpu = WanDitCuda::create(*cpu);
  HostTensor oc = HostTensor::empty(DType::F32, {1, 16, 3, 8, 8}), og = HostTensor::empty(DType::F32, {1, 16, 3, 8, 8});
  double t = 988.0;
  for (auto kind : {AttentionKind::Original, AttentionKind::Sla, AttentionKind::SageSla}) {
    AttentionOptions a;
    a.kind = kind;
    a.topk = 1.0f;  // 48 tokens fit one key block: full selection, so the sparse branch is checked exactly
    cpu->forward(x, Tensor{}, &t, ctx, a, oc.t());
    gpu->forward(x, Tensor{}, &t, ctx, a, og.t());
    double e = twtest::rel_l2(og.f32(), oc.f32(), size_t(oc.numel()));
    std::printf("gpu forward (%d) vs cpu rel L2 = %.3g\n", int(kind), e);
    TW_CHECK_MSG(e <= 3e-2, "attention kind %d: rel L2 %.3g > 3e-2", int(kind), e);
  }
  // TurboDiffusion -quant weights stay int8 on the device (W8A8 GEMM) and match the CPU int8 path.
  {
    auto qc = WanDit::load({dir + "t2v-quant.pth"}, nullptr, 512);
    auto qg = WanDitCuda::create(*qc);
    TW_CHECK(qg->int8_linears());
    AttentionOptions a;
    double tq = 932.0;
    qc->forward(x, Tensor{}, &tq, ctx, a, oc.t());
    qg->forward(x, Tensor{}, &tq, ctx, a, og.t());
    double eq = twtest::rel_l2(og.f32(), oc.f32(), size_t(oc.numel()));
    std::printf("gpu int8 forward vs cpu int8 rel L2 = %.3g\n", eq);
    TW_CHECK_MSG(eq <= 3e-2, "int8 rel L2 %.3g", eq);
  }
  // The official-layout I2V expert with its condition, and a 4-step SDE run with injected noise.
  auto hi = WanDit::load({dir + "i2v-high.safetensors"}, nullptr, 512);
  auto hig = WanDitCuda::create(*hi);
  Tensor cond = g.tensor("i2v.cond");
  t = 996.0;
  AttentionOptions dense;
  hi->forward(x, cond, &t, ctx, dense, oc.t());
  hig->forward(x, cond, &t, ctx, dense, og.t());
  double ei = twtest::rel_l2(og.f32(), oc.f32(), size_t(oc.numel()));
  std::printf("gpu i2v forward vs cpu rel L2 = %.3g\n", ei);
  TW_CHECK_MSG(ei <= 3e-2, "i2v rel L2 %.3g", ei);

  RcmOptions o;
  o.initial_noise = g.tensor("sample.noise0").ptr<float>();
  for (int i = 1; i <= 4; ++i) o.step_noises.push_back(g.tensor("sample.noise" + std::to_string(i)).ptr<float>());
  rcm_sample(*gpu, nullptr, ctx, Tensor{}, o, og.t(), {}, nullptr);
  Tensor ref = g.tensor("sample.t2v_sde4");
  double es = twtest::rel_l2(og.f32(), ref.ptr<float>(), size_t(ref.numel()));
  std::printf("gpu 4-step sampling vs official fp32 rel L2 = %.3g\n", es);
  TW_CHECK_MSG(es <= 3e-2, "sampling rel L2 %.3g", es);
#ifdef TW_CUDA
  // Out of device memory is an error naming the failed call, and the model stays usable afterwards:
  // fill the card but 8 MB, then ask for a latent whose workspace (~30 MB) cannot be allocated.
  {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    void* hog = nullptr;
    TW_CHECK(cudaMalloc(&hog, free_b - (size_t(8) << 20)) == cudaSuccess);
    std::vector<float> bigx(size_t(16 * 3 * 128 * 128), 0.1f), bigo(bigx.size());
    Tensor bx = Tensor::view(bigx.data(), DType::F32, {1, 16, 3, 128, 128});
    Tensor bo = Tensor::view(bigo.data(), DType::F32, {1, 16, 3, 128, 128});
    std::string msg = twtest::expect_throw([&] {
      double tb = 988.0;
      AttentionOptions a;
      gpu->forward(bx, Tensor{}, &tb, ctx, a, bo);
    });
    std::printf("out of memory: %s\n", msg.c_str());
    TW_CHECK(msg.find("cudaErrorMemoryAllocation") != std::string::npos);
    cudaFree(hog);
    double t2 = 988.0;
    AttentionOptions a;
    gpu->forward(x, Tensor{}, &t2, ctx, a, og.t());
    cpu->forward(x, Tensor{}, &t2, ctx, a, oc.t());
    double e2 = twtest::rel_l2(og.f32(), oc.f32(), size_t(oc.numel()));
    std::printf("after the failed allocation: gpu vs cpu rel L2 = %.3g\n", e2);
    TW_CHECK_MSG(e2 <= 3e-2, "after OOM rel L2 %.3g", e2);
    gpu->forward(bx, Tensor{}, &t2, ctx, a, bo);  // and the larger latent now fits
  }
#endif
  return twtest::finish("wan_dit_cuda_test");
}
