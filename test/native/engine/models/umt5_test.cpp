// umT5 encoder parity with the official Wan2.1 T5Encoder (scripts/golden/make_umt5_goldens.py):
// a 3-layer random-weight model saved by torch.save with the real key names, fp32.
#include <cstdio>
#include <memory>
#include <vector>

#include "loader/checkpoint.h"
#include "models/umt5.h"
#include "tw_test.h"

using namespace tw;

namespace {

const char* kWeights = "test/fixtures/umt5/umt5_small.pth";
const char* kGolden = "test/fixtures/umt5/umt5_small_golden.safetensors";

std::vector<int32_t> row_i32(const Tensor& t, int64_t r) {
  const int64_t n = t.size(1);
  const int32_t* p = t.ptr<int32_t>() + r * n;
  return std::vector<int32_t>(p, p + n);
}

void test_buckets(const loader::Checkpoint& g) {
  Tensor rel = g.tensor("rel"), bucket = g.tensor("bucket");
  int bad = 0;
  for (int64_t i = 0; i < rel.numel(); ++i)
    bad += engine::t5_relative_bucket(rel.ptr<int32_t>()[i]) != bucket.ptr<int32_t>()[i];
  TW_CHECK_MSG(bad == 0, "%d of %ld relative buckets differ from torch", bad, long(rel.numel()));
  // facts §8.2: 8–11 → 8, 16–22 → 10, 64–90 → 14, ≥ 91 → 15; positive offsets add 16
  TW_CHECK(engine::t5_relative_bucket(-16) == 10 && engine::t5_relative_bucket(16) == 26);
  TW_CHECK(engine::t5_relative_bucket(-90) == 14 && engine::t5_relative_bucket(-91) == 15 && engine::t5_relative_bucket(5000) == 31);
}

void test_parity(const std::string& weights, const loader::Checkpoint& g) {
  auto enc = engine::UMT5Encoder::load(weights);
  const auto& c = enc->config();
  TW_CHECK(c.vocab == 256 && c.dim == 64 && c.dim_attn == 64 && c.dim_ffn == 128 && c.num_heads == 4 && c.num_layers == 3 &&
           c.num_buckets == 32);
  Tensor ids = g.tensor("ids"), mask = g.tensor("mask"), out = g.tensor("out");
  const int64_t B = ids.size(0), L = ids.size(1), D = out.size(2);
  for (int64_t b = 0; b < B; ++b) {
    auto m = row_i32(mask, b);
    HostTensor y = enc->encode(row_i32(ids, b), m);
    TW_CHECK(y.t().size(0) == L && y.t().size(1) == D);
    const float* ref = out.ptr<float>() + b * L * D;
    const double err = twtest::rel_l2(y.f32(), ref, size_t(L * D));
    int64_t n = 0;
    for (int32_t v : m) n += v;
    std::printf("umt5 tokens=%ld rel_l2=%.3g\n", long(n), err);
    TW_CHECK_MSG(err <= 1e-5, "sequence %ld (%ld tokens): rel L2 %g > 1e-5", long(b), long(n), err);
    bool pad_zero = true;
    for (int64_t i = n; i < L; ++i)
      for (int64_t d = 0; d < D; ++d) pad_zero &= y.f32()[i * D + d] == 0.f;
    TW_CHECK(pad_zero);
  }
  // A mask with a hole: the masked row is zero and the others equal the run that masks that key.
  auto ids0 = row_i32(ids, 1), m0 = row_i32(mask, 1);
  m0[3] = 0;
  HostTensor y = enc->encode(ids0, m0);
  bool zero = true;
  for (int64_t d = 0; d < D; ++d) zero &= y.f32()[3 * D + d] == 0.f;
  TW_CHECK(zero);
  // Errors name the problem.
  std::string msg = twtest::expect_throw([&] { enc->encode({5, 300, 1}, {1, 1, 1}); });
  TW_CHECK_MSG(msg.find("vocabulary") != std::string::npos, "%s", msg.c_str());
  msg = twtest::expect_throw([&] { enc->encode({5, 6}, {0, 0}); });
  TW_CHECK_MSG(msg.find("mask") != std::string::npos, "%s", msg.c_str());
}

// The same weights under Hugging Face UMT5EncoderModel names give the same output.
void test_hf_names(const std::string& weights, const loader::Checkpoint& g) {
  auto ck = std::make_shared<loader::Checkpoint>(loader::Checkpoint::open(weights));
  ck->rename("token_embedding.weight", "shared.weight");
  ck->rename("norm.weight", "encoder.final_layer_norm.weight");
  for (int i = 0; i < 3; ++i) {
    const std::string w = "blocks." + std::to_string(i) + ".", h = "encoder.block." + std::to_string(i) + ".layer.";
    ck->rename(w + "norm1.weight", h + "0.layer_norm.weight");
    for (const char* k : {"q", "k", "v", "o"}) ck->rename(w + "attn." + k + ".weight", h + "0.SelfAttention." + k + ".weight");
    ck->rename(w + "pos_embedding.embedding.weight", h + "0.SelfAttention.relative_attention_bias.weight");
    ck->rename(w + "norm2.weight", h + "1.layer_norm.weight");
    ck->rename(w + "ffn.gate.0.weight", h + "1.DenseReluDense.wi_0.weight");
    ck->rename(w + "ffn.fc1.weight", h + "1.DenseReluDense.wi_1.weight");
    ck->rename(w + "ffn.fc2.weight", h + "1.DenseReluDense.wo.weight");
  }
  auto hf = engine::UMT5Encoder::load(ck);
  auto wan = engine::UMT5Encoder::load(weights);
  Tensor ids = g.tensor("ids"), mask = g.tensor("mask");
  HostTensor a = hf->encode(row_i32(ids, 1), row_i32(mask, 1)), b = wan->encode(row_i32(ids, 1), row_i32(mask, 1));
  TW_CHECK(twtest::rel_l2(a.f32(), b.f32(), size_t(a.numel())) == 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  // argv[1]: another copy of the weights (e.g. converted to safetensors) to run the same checks on.
  const std::string weights = argc > 1 ? argv[1] : kWeights;
  try {
    auto golden = loader::Checkpoint::open(kGolden);
    test_buckets(golden);
    test_parity(weights, golden);
    test_hf_names(weights, golden);
    auto vae = loader::Checkpoint::open("test/fixtures/vae/vae_small_golden.safetensors");
    std::string msg = twtest::expect_throw([&] { engine::UMT5Encoder::load(std::make_shared<loader::Checkpoint>(vae)); });
    TW_CHECK_MSG(msg.find("umT5") != std::string::npos, "%s", msg.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "umt5_test: %s\n", e.what());
    ++twtest::failures();
  }
  return twtest::finish("umt5_test");
}
