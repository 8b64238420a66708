// Loads the demo model that native/src/demo/demo_model.ts writes (test/native/demo_model.test.ts
// writes it and runs this binary with the directory) through the real loaders and runs each model
// once: the files must be valid checkpoints of the real layouts and give finite, non-flat outputs.
// Usage: demo_model_test <dir> [t2v|i2v] [no-golden]. A t2v dir must hold the seed-0 demo, which is
// also compared with PyTorch goldens (pass no-golden for other seeds). Without a dir: nothing to check.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "loader/checkpoint.h"
#include "models/umt5.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"
#include "tw_test.h"

using namespace tw;

namespace {

bool all_finite(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

double stddev(const float* p, int64_t n) {
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < n; ++i) { s += p[i]; s2 += double(p[i]) * p[i]; }
  const double m = s / double(n);
  return std::sqrt(std::max(0.0, s2 / double(n) - m * m));
}

void check_demo(const std::string& dir, bool i2v) {
  // umT5: tokens "… </s>" then padding
  auto enc = engine::UMT5Encoder::load(dir + "/umt5.pth");
  TW_CHECK(enc->config().vocab == 1200 && enc->config().dim == 64 && enc->config().num_layers == 2 && enc->config().num_heads == 2);
  std::vector<int32_t> ids(512, 0), mask(512, 0);
  const int32_t prompt[] = {37, 120, 5, 999, 1};
  for (int i = 0; i < 5; ++i) { ids[size_t(i)] = prompt[i]; mask[size_t(i)] = 1; }
  HostTensor ctx = enc->encode(ids, mask);  // [512, 64]
  TW_CHECK(all_finite(ctx.f32(), ctx.numel()));
  TW_CHECK(stddev(ctx.f32(), 5 * 64) > 0.1);
  TW_CHECK(ctx.f32()[5 * 64] == 0.f);

  // VAE: decode two latent frames at 4×6 → 5 frames at 32×48, not flat
  auto vae = engine::WanVae::load(dir + "/vae.pth");
  TW_CHECK(vae->config().spatial_factor == 8 && vae->config().temporal_factor == 4);
  auto z = twtest::randn(16 * 2 * 4 * 6, 5);
  HostTensor video = vae->decode(Tensor::view(z.data(), DType::F32, {16, 2, 4, 6}));
  TW_CHECK((video.t().shape_vec() == std::vector<int64_t>{3, 5, 32, 48}));
  TW_CHECK(all_finite(video.f32(), video.numel()));
  const double sd = stddev(video.f32(), video.numel());
  std::printf("demo vae decode std %.3f\n", sd);
  TW_CHECK_MSG(sd > 0.05, "decoded demo video is flat (std %g)", sd);
  HostTensor lat = vae->encode(video.t());
  TW_CHECK((lat.t().shape_vec() == std::vector<int64_t>{16, 2, 4, 6}));
  TW_CHECK(all_finite(lat.f32(), lat.numel()));

  // DiT: detected config, one forward with the umT5 output as context
  std::vector<std::string> dits{dir + "/dit.pth"};
  if (i2v) dits.push_back(dir + "/dit-low.pth");
  for (const auto& path : dits) {
    auto dit = engine::WanDit::load(std::vector<std::string>{path}, nullptr);
    const auto& c = dit->config();
    TW_CHECK(c.dim == 128 && c.num_layers == 2 && c.num_heads == 1 && c.ffn_dim == 256 && c.text_dim == 64);
    TW_CHECK(c.in_dim == (i2v ? 36 : 16) && c.out_dim == 16);
    TW_CHECK(dit->has_proj_l());
    const int64_t cond_ch = i2v ? 20 : 0;
    auto x = twtest::randn(size_t(16 * 2 * 4 * 4), 6);
    auto cond = twtest::randn(size_t(std::max<int64_t>(cond_ch, 1) * 2 * 4 * 4), 7);
    std::vector<float> out(size_t(16 * 2 * 4 * 4), NAN);
    Tensor xt = Tensor::view(x.data(), DType::F32, {1, 16, 2, 4, 4});
    Tensor ct = i2v ? Tensor::view(cond.data(), DType::F32, {1, cond_ch, 2, 4, 4}) : Tensor{};
    Tensor context = ctx.t().reshape({1, 512, 64});
    Tensor ot = Tensor::view(out.data(), DType::F32, {1, 16, 2, 4, 4});
    const double t = 500.0;
    dit->forward(xt, ct, &t, context, engine::AttentionOptions{}, ot);
    TW_CHECK(all_finite(out.data(), int64_t(out.size())));
    TW_CHECK(stddev(out.data(), int64_t(out.size())) > 1e-3);
  }
}

// Seed-0 t2v demo vs the official Wan2.1 modules run by PyTorch on the same files
// (scripts/golden/make_demo_goldens.py; regenerate it when the demo weights change).
void check_golden(const std::string& dir) {
  auto g = loader::Checkpoint::open("test/fixtures/demo/demo_golden.safetensors");
  auto vae = engine::WanVae::load(dir + "/vae.pth");
  HostTensor mu = vae->encode(g.tensor("video"));
  const double e_mu = twtest::rel_l2(mu.f32(), g.tensor("mu").ptr<float>(), size_t(mu.numel()));
  HostTensor dec = vae->decode(g.tensor("z"));
  const double e_dec = twtest::rel_l2(dec.f32(), g.tensor("dec").ptr<float>(), size_t(dec.numel()));
  auto enc = engine::UMT5Encoder::load(dir + "/umt5.pth");
  Tensor ids = g.tensor("ids"), mask = g.tensor("mask"), ctx = g.tensor("ctx");
  double e_ctx = 0;
  for (int64_t b = 0; b < ids.size(0); ++b) {
    const int32_t* ip = ids.ptr<int32_t>() + b * 512;
    const int32_t* mp = mask.ptr<int32_t>() + b * 512;
    HostTensor y = enc->encode(std::vector<int32_t>(ip, ip + 512), std::vector<int32_t>(mp, mp + 512));
    e_ctx = std::max(e_ctx, twtest::rel_l2(y.f32(), ctx.ptr<float>() + b * 512 * 64, size_t(512 * 64)));
  }
  std::printf("demo vs official Wan2.1 code: vae encode %.3g, decode %.3g, umt5 %.3g (rel L2)\n", e_mu, e_dec, e_ctx);
  TW_CHECK_MSG(e_mu <= 1e-4 && e_dec <= 1e-4, "demo VAE differs from WanVAE_: encode %g decode %g", e_mu, e_dec);
  TW_CHECK_MSG(e_ctx <= 1e-5, "demo umT5 differs from T5Encoder: %g", e_ctx);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::printf("demo_model_test: no demo directory given; test/native/demo_model.test.ts writes one and passes it\n");
    return 0;
  }
  try {
    const bool i2v = argc > 2 && std::string(argv[2]) == "i2v";
    check_demo(argv[1], i2v);
    if (!i2v && (argc < 4 || std::string(argv[3]) != "no-golden")) check_golden(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo_model_test: %s\n", e.what());
    ++twtest::failures();
  }
  return twtest::finish("demo_model_test");
}
