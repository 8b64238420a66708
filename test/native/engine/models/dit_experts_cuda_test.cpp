// Expert residency (WanDitCuda::create_pair): the small two-expert I2V model of test/fixtures/dit
// sampled with both experts resident and with them parked (one set of device blocks, swapped in
// place from pinned host memory). The parked results must be bit-identical to the resident ones:
// the same kernels read the same bytes, only where the bytes came from differs. Covers the planned
// swap (during the last step of an expert), the swap back for the next job, an unplanned forward
// (blocks fetched on demand), int8 block linears, and the Auto decision. Dense attention: the SLA
// kernels accumulate with float atomics, so they are not bit-reproducible run to run. Skips, saying
// so, where no GPU is available.
#include <cstdio>
#include <cstring>
#include <vector>

#include "loader/checkpoint.h"
#include "models/wan_dit_cuda.h"
#include "pipeline/generate.h"
#include "sampler/rcm.h"
#include "tw_test.h"

using namespace tw;
using namespace tw::engine;

namespace {

struct Fixture {
  loader::Checkpoint g = loader::Checkpoint::open("test/fixtures/dit/golden.safetensors");
  std::unique_ptr<WanDit> hi = WanDit::load({"test/fixtures/dit/i2v-high.safetensors"}, nullptr, 512);
  std::unique_ptr<WanDit> lo = WanDit::load({"test/fixtures/dit/i2v-low.safetensors"}, nullptr, 512);
};

// Two jobs of 4 ODE steps (high, high, low, low each, planned as generate() plans them), then one
// unplanned forward of the low expert: returns all outputs concatenated.
std::vector<float> run(Fixture& f, const WanDitCuda::Pair& p, WanDitCuda::SwapStats* hs, WanDitCuda::SwapStats* ls) {
  Tensor x = f.g.tensor("forward.x"), ctx = f.g.tensor("context"), cond = f.g.tensor("i2v.cond");
  const size_t n = size_t(x.numel());
  std::vector<float> all;
  HostTensor out = HostTensor::empty(DType::F32, x.shape_vec());
  RcmOptions o;
  o.ode = true;
  o.sigma_max = 200.0;
  o.initial_noise = f.g.tensor("sample.noise0").ptr<float>();
  for (int job = 0; job < 2; ++job) {
    WanDitCuda::plan_forwards(expert_order(*p.high, p.low.get(), o));
    rcm_sample(*p.high, p.low.get(), ctx, cond, o, out.t(), {}, nullptr);
    all.insert(all.end(), out.f32(), out.f32() + n);
  }
  double t = 608.0;
  AttentionOptions dense;
  p.low->forward(x, cond, &t, ctx, dense, out.t());  // the slots hold the high expert now
  all.insert(all.end(), out.f32(), out.f32() + n);
  if (hs) *hs = p.high->swap_stats();
  if (ls) *ls = p.low->swap_stats();
  return all;
}

}  // namespace

int main() {
  if (!cuda_available()) {
    std::printf("dit_experts_cuda_test: skipped (no CUDA backend in this build or no GPU visible)\n");
    return 0;
  }
  Fixture f;
  const int64_t layers = f.hi->config().num_layers;
  for (bool int8 : {false, true}) {
    WanDitCuda::PairOptions po;
    po.model.quantize_bf16 = int8;
    po.residency = ExpertResidency::Resident;
    std::vector<float> ref;
    {
      auto p = WanDitCuda::create_pair(*f.hi, *f.lo, po);
      TW_CHECK(!p.parked && !p.high->parked() && !p.low->parked());
      ref = run(f, p, nullptr, nullptr);
    }
    po.residency = ExpertResidency::Parked;
    auto p = WanDitCuda::create_pair(*f.hi, *f.lo, po);
    TW_CHECK(p.parked && p.high->parked() && p.low->parked());
    std::printf("%s: %s\n", int8 ? "int8" : "bf16", p.reason.c_str());
    WanDitCuda::SwapStats hs, ls;
    std::vector<float> got = run(f, p, &hs, &ls);
    TW_CHECK(got.size() == ref.size());
    size_t diff = 0;
    for (size_t i = 0; i < ref.size(); ++i) diff += std::memcmp(&got[i], &ref[i], 4) != 0;
    std::printf("%s parked vs resident: %zu of %zu values differ (want 0)\n", int8 ? "int8" : "bf16", diff, ref.size());
    TW_CHECK_MSG(diff == 0, "parked differs from resident in %zu values", diff);
    // Per job: low swapped in during step 2 and high back during step 4, block by block; the
    // unplanned low forward then fetches all its blocks on demand.
    std::printf("swaps: high prefetched %lld demand %lld; low prefetched %lld demand %lld\n", hs.prefetched_blocks,
                hs.demand_blocks, ls.prefetched_blocks, ls.demand_blocks);
    TW_CHECK(ls.prefetched_blocks == 2 * layers && hs.prefetched_blocks == 2 * layers);
    TW_CHECK(hs.demand_blocks == 0 && ls.demand_blocks == layers);
    // The sampled video matches the official fp32 two-expert ODE run (same bound as the GPU DiT test).
    if (!int8) {
      Tensor gold = f.g.tensor("sample.i2v_ode4");
      double e = twtest::rel_l2(got.data(), gold.ptr<float>(), size_t(gold.numel()));
      std::printf("parked 4-step i2v sampling vs official fp32 rel L2 = %.3g\n", e);
      TW_CHECK_MSG(e <= 3e-2, "rel L2 %.3g", e);
    }
  }
  // Auto: parks when both experts plus the headroom do not fit, keeps both otherwise.
  {
    WanDitCuda::PairOptions po;
    po.headroom_bytes = size_t(1) << 60;
    auto p = WanDitCuda::create_pair(*f.hi, *f.lo, po);
    std::printf("auto, huge headroom: %s\n", p.reason.c_str());
    TW_CHECK(p.parked);
    po.headroom_bytes = 1;
    auto q = WanDitCuda::create_pair(*f.hi, *f.lo, po);
    std::printf("auto, 1-byte headroom: %s\n", q.reason.c_str());
    TW_CHECK(!q.parked);
  }
  // Parked needs identical shapes: a T2V model next to the I2V expert is refused, naming why.
  {
    auto t2v = WanDit::load({"test/fixtures/dit/t2v.pth"}, nullptr, 512);
    WanDitCuda::PairOptions po;
    po.residency = ExpertResidency::Parked;
    std::string msg = twtest::expect_throw([&] { WanDitCuda::create_pair(*f.hi, *t2v, po); });
    TW_CHECK(msg.find("identical shapes") != std::string::npos);
  }
  return twtest::finish("dit_experts_cuda_test");
}
