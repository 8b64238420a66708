// Wan DiT forward on the CPU backend vs the official Wan2.1 model code (fp32), on small
// random-weight models saved in the real checkpoint formats by scripts/golden/make_dit_goldens.py.
#include <cstdio>

#include "loader/checkpoint.h"
#include "models/wan_dit.h"
#include "tw/ops.h"
#include "tw_test.h"

using namespace tw;
using namespace tw::engine;

namespace {
const std::string kDir = "test/fixtures/dit/";

double forward_error(const WanDit& m, const loader::Checkpoint& g, const char* golden, double t, bool with_cond,
                     AttentionKind kind = AttentionKind::Original) {
  Tensor x = g.tensor("forward.x"), ctx = g.tensor("context");
  Tensor cond = with_cond ? g.tensor("i2v.cond") : Tensor{};
  Tensor ref = g.tensor(golden);
  HostTensor out = HostTensor::empty(DType::F32, ref.shape_vec());
  AttentionOptions attn;
  attn.kind = kind;
  m.forward(x, cond, &t, ctx, attn, out.t());
  return twtest::rel_l2(out.f32(), ref.ptr<float>(), size_t(ref.numel()));
}
}  // namespace

int main() {
  auto g = loader::Checkpoint::open(kDir + "golden.safetensors");

  // TurboDiffusion plain layout (.pth, bf16 weights, fp32 norms, proj_l present but unused by 'original').
  auto t2v = WanDit::load({kDir + "t2v.pth"}, nullptr, 512);
  TW_CHECK(t2v->config().dim == 128 && t2v->config().num_layers == 2 && t2v->config().in_dim == 16);
  TW_CHECK(t2v->has_proj_l() && !t2v->quantized());
  double e = forward_error(*t2v, g, "forward.t2v", 988.0, false);
  std::printf("t2v forward rel L2 = %.3g\n", e);
  TW_CHECK_MSG(e <= 1e-5, "t2v forward rel L2 %.3g > 1e-5", e);

  // TurboDiffusion -quant layout: int8 W8A8 block linears. Exact check first: each linear of
  // block 0 on the reference's own inputs (bf16 outputs, so anything but a rounding tie is equal).
  auto q = WanDit::load({kDir + "t2v-quant.pth"}, nullptr, 512);
  TW_CHECK(q->quantized());
  {
    auto qc = loader::Checkpoint::open(kDir + "t2v-quant.pth");
    for (const char* n : {"self_attn.q", "cross_attn.k", "ffn.2"}) {
      const std::string p = std::string("blocks.0.") + n, k = std::string("quant.block0.") + n;
      Tensor in = g.tensor(k + ".in"), ref = g.tensor(k + ".out");
      HostTensor y = HostTensor::empty(DType::F32, ref.shape_vec());
      ops::linear_int8({in, qc.tensor(p + ".int8_weight"), qc.tensor(p + ".scale"), qc.tensor(p + ".bias"), y.t()});
      double el = twtest::rel_l2(y.f32(), ref.ptr<float>(), size_t(ref.numel()));
      std::printf("int8 %s rel L2 = %.3g\n", n, el);
      TW_CHECK_MSG(el <= 1e-5, "int8 linear %s rel L2 %.3g > 1e-5", n, el);
    }
  }
  // End to end, activation quantization turns the fp32-rounding differences of the rest of the
  // network (4e-7 on the plain path) into occasional one-step int8 flips that then propagate; the
  // quantization effect itself is ~7e-3 here, so 5e-3 still separates "quantized like TD" from
  // "not quantized" while the exact per-linear check above carries the bit-level claim.
  double eq = forward_error(*q, g, "forward.t2v_quant", 932.0, false);
  std::printf("t2v-quant forward rel L2 = %.3g\n", eq);
  TW_CHECK_MSG(eq <= 5e-3, "t2v-quant forward rel L2 %.3g > 5e-3", eq);

  // Official layout with the ComfyUI prefix and a Conv3d patch weight; I2V (in_dim 36).
  auto hi = WanDit::load({kDir + "i2v-high.safetensors"}, nullptr, 512);
  TW_CHECK(hi->config().in_dim == 36 && hi->config().model_type == "i2v" && !hi->has_proj_l());
  double ei = forward_error(*hi, g, "forward.i2v_high", 996.0, true);
  std::printf("i2v forward rel L2 = %.3g\n", ei);
  TW_CHECK_MSG(ei <= 1e-5, "i2v forward rel L2 %.3g > 1e-5", ei);

  // SLA needs proj_l: an official file gives a clear error, not garbage.
  std::string msg = twtest::expect_throw([&] { forward_error(*hi, g, "forward.i2v_high", 996.0, true, AttentionKind::Sla); });
  TW_CHECK_MSG(msg.find("proj_l") != std::string::npos, "%s", msg.c_str());
  // I2V model without its condition.
  msg = twtest::expect_throw([&] { forward_error(*hi, g, "forward.i2v_high", 996.0, false); });
  TW_CHECK_MSG(msg.find("in_dim 36") != std::string::npos, "%s", msg.c_str());
  // A checkpoint that does not match the named model says which field differs.
  WanDitConfig big = named_dit_config("wan2.1-t2v-1.3b");
  msg = twtest::expect_throw([&] { WanDit::load({kDir + "t2v.pth"}, &big, 512); });
  TW_CHECK_MSG(msg.find("t2v.pth") != std::string::npos && msg.find("dim = 128") != std::string::npos, "%s", msg.c_str());
  // SLA / SageSLA run end to end on a TD file (values are checked per op in test/kernels).
  {
    Tensor x = g.tensor("forward.x"), ctx = g.tensor("context");
    HostTensor out = HostTensor::empty(DType::F32, {1, 16, 3, 8, 8});
    double t = 988.0;
    for (auto kind : {AttentionKind::Sla, AttentionKind::SageSla}) {
      AttentionOptions attn;
      attn.kind = kind;
      attn.topk = 0.5f;
      attn.blk_q = 16;
      attn.blk_k = 16;
      t2v->forward(x, Tensor{}, &t, ctx, attn, out.t());
      bool finite = true;
      for (int64_t i = 0; i < out.numel(); ++i) finite = finite && std::isfinite(out.f32()[i]);
      TW_CHECK(finite);
    }
  }
  return twtest::finish("wan_dit_test");
}
