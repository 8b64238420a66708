// Wan2.1 VAE parity with the official WanVAE_ (scripts/golden/make_vae_goldens.py): widths 4/8/12/12,
// z_dim 16, real latent statistics, 9 frames at 32×48 (3 latent frames), weights via torch.save.
#include <cstdio>
#include <memory>
#include <vector>

#include "loader/checkpoint.h"
#include "models/wan_vae.h"
#include "tw_test.h"

using namespace tw;

namespace {

const char* kWeights = "test/fixtures/vae/vae_small.pth";
const char* kGolden = "test/fixtures/vae/vae_small_golden.safetensors";

void test_parity(const std::string& weights) {
  auto g = loader::Checkpoint::open(kGolden);
  auto vae = engine::WanVae::load(weights);
  const auto& cfg = vae->config();
  TW_CHECK(cfg.z_dim == 16 && cfg.spatial_factor == 8 && cfg.temporal_factor == 4);
  TW_CHECK(cfg.encoder_widths.size() == 11 && cfg.decoder_widths.size() == 15);
  TW_CHECK(vae->decoded_frames(21) == 81);

  Tensor video = g.tensor("video"), mu = g.tensor("mu"), z = g.tensor("z"), dec = g.tensor("dec"), dec0 = g.tensor("dec0");
  HostTensor got_mu = vae->encode(video);
  TW_CHECK(got_mu.t().shape_vec() == mu.shape_vec());
  const double e_enc = twtest::rel_l2(got_mu.f32(), mu.ptr<float>(), size_t(mu.numel()));
  std::printf("vae encode [3,9,32,48] → %s: rel_l2 %.3g\n", mu.shape_str().c_str(), e_enc);
  TW_CHECK_MSG(e_enc <= 1e-4, "encode rel L2 %g > 1e-4", e_enc);

  // Streamed decode: chunk sizes 1, 4, 4 with indices 0..2 of 3.
  std::vector<int64_t> sizes;
  std::vector<float> frames_all;
  const int64_t HW = 32 * 48;
  std::vector<std::vector<float>> per_chunk;
  bool complete = vae->decode(z, [&](const Tensor& fr, int chunk, int total) {
    TW_CHECK(chunk == int(sizes.size()) && total == 3);
    TW_CHECK(fr.size(0) == 3 && fr.size(2) == 32 && fr.size(3) == 48);
    sizes.push_back(fr.size(1));
    per_chunk.emplace_back(fr.ptr<float>(), fr.ptr<float>() + fr.numel());
    return true;
  });
  TW_CHECK(complete);
  TW_CHECK((sizes == std::vector<int64_t>{1, 4, 4}));
  HostTensor got = vae->decode(z);
  TW_CHECK(got.t().shape_vec() == dec.shape_vec());
  const double e_dec = twtest::rel_l2(got.f32(), dec.ptr<float>(), size_t(dec.numel()));
  std::printf("vae decode %s → [3,9,32,48]: rel_l2 %.3g\n", z.shape_str().c_str(), e_dec);
  TW_CHECK_MSG(e_dec <= 1e-4, "decode rel L2 %g > 1e-4", e_dec);
  // the streamed chunks are the collected frames
  bool same = per_chunk.size() == 3;
  int64_t f0 = 0;
  for (size_t i = 0; same && i < per_chunk.size(); ++i) {
    const int64_t n = sizes[i];
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t j = 0; j < n * HW; ++j) same &= per_chunk[i][size_t(c * n * HW + j)] == got.f32()[(c * 9 + f0) * HW + j];
    f0 += n;
  }
  TW_CHECK(same);

  // decoding the first latent frame alone (a still image)
  HostTensor z0 = HostTensor::empty(DType::F32, {16, 1, 4, 6});
  for (int64_t c = 0; c < 16; ++c)
    for (int64_t i = 0; i < 24; ++i) z0.f32()[c * 24 + i] = z.ptr<float>()[c * 3 * 24 + i];
  HostTensor got0 = vae->decode(z0.t());
  const double e0 = twtest::rel_l2(got0.f32(), dec0.ptr<float>(), size_t(dec0.numel()));
  TW_CHECK_MSG(e0 <= 1e-4, "single-frame decode rel L2 %g", e0);

  // the callback can stop the decode (cancellation between chunks)
  int calls = 0;
  TW_CHECK(!vae->decode(z, [&](const Tensor&, int, int) { return ++calls < 2; }));
  TW_CHECK(calls == 2);

  std::string msg = twtest::expect_throw([&] { vae->encode(HostTensor::zeros(DType::F32, {3, 6, 32, 48}).t()); });
  TW_CHECK_MSG(msg.find("1 + 4") != std::string::npos, "%s", msg.c_str());
  msg = twtest::expect_throw([&] { vae->decode(HostTensor::zeros(DType::F32, {8, 1, 4, 4}).t()); });
  TW_CHECK_MSG(msg.find("latents") != std::string::npos, "%s", msg.c_str());
}

void test_wrong_checkpoint() {
  auto umt5 = std::make_shared<loader::Checkpoint>(loader::Checkpoint::open("test/fixtures/umt5/umt5_small.pth"));
  std::string msg = twtest::expect_throw([&] { engine::WanVae::load(umt5); });
  TW_CHECK_MSG(msg.find("Wan VAE") != std::string::npos, "%s", msg.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    test_parity(argc > 1 ? argv[1] : kWeights);
    test_wrong_checkpoint();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wan_vae_test: %s\n", e.what());
    ++twtest::failures();
  }
  return twtest::finish("wan_vae_test");
}
