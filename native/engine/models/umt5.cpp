// umT5 encoder forward in ops (wan/modules/t5.py T5Encoder semantics, fp32 on the CPU backend).
#include "models/umt5.h"

#include <algorithm>
#include <cmath>

#include "tw/ops.h"
#include "tw/ops_extra.h"

namespace tw::engine {

int64_t t5_relative_bucket(int64_t rel, int64_t num_buckets, int64_t max_distance) {
  // T5RelativeEmbedding._relative_position_bucket (bidirectional), with its fp32 tensor arithmetic:
  // log(float(a) / max_exact) / float(log(max_dist / max_exact)) * (half − max_exact), truncated.
  const int64_t half = num_buckets / 2, max_exact = half / 2;
  const int64_t base = rel > 0 ? half : 0;
  const int64_t a = rel < 0 ? -rel : rel;
  if (a < max_exact) return base + a;
  const float ratio = float(a) / float(max_exact);
  const float denom = float(std::log(double(max_distance) / double(max_exact)));
  const float scaled = (std::log(ratio) / denom) * float(half - max_exact);
  const int64_t large = std::min<int64_t>(max_exact + int64_t(scaled), half - 1);
  return base + large;
}

std::unique_ptr<UMT5Encoder> UMT5Encoder::load(const std::string& path) {
  return load(std::make_shared<loader::Checkpoint>(loader::Checkpoint::open(path)));
}

void normalize_umt5_keys(loader::Checkpoint& ck) {
  // Hugging Face / ComfyUI UMT5EncoderModel names (facts §8.3) → Wan's T5Encoder names.
  for (const char* prefix : {"", "encoder.", "model.", "t5xxl.transformer."}) {
    const std::string p = prefix;
    const std::string emb = ck.has(p + "shared.weight") ? p + "shared.weight" : p + "encoder.embed_tokens.weight";
    if (ck.has("token_embedding.weight") || !ck.has(emb) || !ck.has(p + "encoder.final_layer_norm.weight")) continue;
    ck.rename(emb, "token_embedding.weight");
    if (ck.has(p + "encoder.embed_tokens.weight")) ck.erase(p + "encoder.embed_tokens.weight");  // tied copy
    ck.rename(p + "encoder.final_layer_norm.weight", "norm.weight");
    for (int i = 0; ck.has(p + "encoder.block." + std::to_string(i) + ".layer.0.layer_norm.weight"); ++i) {
      const std::string hf = p + "encoder.block." + std::to_string(i) + ".layer.", wan = "blocks." + std::to_string(i) + ".";
      ck.rename(hf + "0.layer_norm.weight", wan + "norm1.weight");
      for (const char* k : {"q", "k", "v", "o"}) ck.rename(hf + "0.SelfAttention." + k + ".weight", wan + "attn." + k + ".weight");
      ck.rename(hf + "0.SelfAttention.relative_attention_bias.weight", wan + "pos_embedding.embedding.weight");
      ck.rename(hf + "1.layer_norm.weight", wan + "norm2.weight");
      ck.rename(hf + "1.DenseReluDense.wi_0.weight", wan + "ffn.gate.0.weight");
      ck.rename(hf + "1.DenseReluDense.wi_1.weight", wan + "ffn.fc1.weight");
      ck.rename(hf + "1.DenseReluDense.wo.weight", wan + "ffn.fc2.weight");
    }
    return;
  }
}

std::unique_ptr<UMT5Encoder> UMT5Encoder::load(std::shared_ptr<loader::Checkpoint> ckpt) {
  normalize_umt5_keys(*ckpt);
  const loader::Checkpoint& ck = *ckpt;
  std::unique_ptr<UMT5Encoder> m(new UMT5Encoder());
  m->ckpt_ = ckpt;
  UMT5Config& c = m->cfg_;
  const std::string file = ck.files().empty() ? std::string("checkpoint") : ck.files().front();
  if (!ck.has("token_embedding.weight") || !ck.has("blocks.0.attn.q.weight"))
    throw Error(file + ": not a umT5 encoder checkpoint (no 'token_embedding.weight' / 'blocks.0.attn.q.weight'); "
                "expected models_t5_umt5-xxl-enc-bf16.pth key names");
  const auto& emb = ck.info("token_embedding.weight");
  if (emb.shape.size() != 2) throw Error(file + ": key 'token_embedding.weight' must be 2-D [vocab, dim]");
  c.vocab = emb.shape[0];
  c.dim = emb.shape[1];
  c.dim_attn = ck.info("blocks.0.attn.q.weight").shape.at(0);
  c.dim_ffn = ck.info("blocks.0.ffn.fc1.weight").shape.at(0);
  int64_t layers = 0;
  while (ck.has("blocks." + std::to_string(layers) + ".norm1.weight")) ++layers;
  c.num_layers = layers;
  // Per-layer relative embeddings (umT5); a shared encoder-level one is accepted too (T5 v1.1 style).
  const bool shared_pos = !ck.has("blocks.0.pos_embedding.embedding.weight");
  const std::string pos0 = shared_pos ? "pos_embedding.embedding.weight" : "blocks.0.pos_embedding.embedding.weight";
  const auto& pe = ck.info(pos0);
  if (pe.shape.size() != 2) throw Error(file + ": key '" + pos0 + "' must be 2-D [num_buckets, num_heads]");
  c.num_buckets = pe.shape[0];
  c.num_heads = pe.shape[1];
  if (c.num_heads <= 0 || c.dim_attn % c.num_heads != 0)
    throw Error(file + ": attention dim " + std::to_string(c.dim_attn) + " is not divisible by " + std::to_string(c.num_heads) + " heads ('" + pos0 + "')");

  m->token_embedding_ = ck.tensor("token_embedding.weight", {c.vocab, c.dim});
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    UMT5Block b;
    b.norm1_weight = ck.tensor(p + "norm1.weight", {c.dim});
    b.attn_q = ck.tensor(p + "attn.q.weight", {c.dim_attn, c.dim});
    b.attn_k = ck.tensor(p + "attn.k.weight", {c.dim_attn, c.dim});
    b.attn_v = ck.tensor(p + "attn.v.weight", {c.dim_attn, c.dim});
    b.attn_o = ck.tensor(p + "attn.o.weight", {c.dim, c.dim_attn});
    b.norm2_weight = ck.tensor(p + "norm2.weight", {c.dim});
    b.ffn_gate = ck.tensor(p + "ffn.gate.0.weight", {c.dim_ffn, c.dim});
    b.ffn_fc1 = ck.tensor(p + "ffn.fc1.weight", {c.dim_ffn, c.dim});
    b.ffn_fc2 = ck.tensor(p + "ffn.fc2.weight", {c.dim, c.dim_ffn});
    b.pos_embedding = ck.tensor(shared_pos ? pos0 : p + "pos_embedding.embedding.weight", {c.num_buckets, c.num_heads});
    m->blocks_.push_back(b);
  }
  m->norm_weight_ = ck.tensor("norm.weight", {c.dim});
  return m;
}

HostTensor UMT5Encoder::encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask) const {
  const UMT5Config& c = cfg_;
  const int64_t L = int64_t(ids.size());
  if (L == 0 || mask.size() != ids.size())
    throw Error("umt5 encode: ids (" + std::to_string(ids.size()) + ") and mask (" + std::to_string(mask.size()) +
                ") must be non-empty and of one length");
  int64_t n = 0;  // positions computed: up to the last unmasked token
  bool gaps = false;
  for (int64_t i = 0; i < L; ++i) if (mask[size_t(i)] != 0) n = i + 1;
  if (n == 0) throw Error("umt5 encode: the mask has no tokens (a tokenized prompt always keeps </s>)");
  for (int64_t i = 0; i < n; ++i) gaps |= mask[size_t(i)] == 0;
  for (int64_t i = 0; i < n; ++i)
    if (ids[size_t(i)] < 0 || ids[size_t(i)] >= c.vocab)
      throw Error("umt5 encode: token id " + std::to_string(ids[size_t(i)]) + " at position " + std::to_string(i) +
                  " is outside the vocabulary (" + std::to_string(c.vocab) + "); tokenizer and encoder do not match");

  const int64_t D = c.dim, A = c.dim_attn, F = c.dim_ffn, H = c.num_heads, dh = c.head_dim();
  // x = token_embedding[ids]   // x: [n, D]
  HostTensor x = HostTensor::empty(DType::F32, {n, D});
  for (int64_t i = 0; i < n; ++i) to_f32(token_embedding_.slice0(ids[size_t(i)], ids[size_t(i)] + 1), x.f32() + i * D);

  std::vector<int32_t> key_mask(mask.begin(), mask.begin() + n);
  Tensor key_mask_t = gaps ? Tensor::view(key_mask.data(), DType::I32, {n}) : Tensor{};
  std::vector<int64_t> bucket(size_t(2 * n - 1));  // bucket of rel = j − i, at index rel + n − 1
  for (int64_t r = -(n - 1); r <= n - 1; ++r) bucket[size_t(r + n - 1)] = t5_relative_bucket(r, c.num_buckets, c.max_distance);

  HostTensor a = HostTensor::empty(DType::F32, {n, D});
  HostTensor q = HostTensor::empty(DType::F32, {n, A}), k = HostTensor::empty(DType::F32, {n, A});
  HostTensor v = HostTensor::empty(DType::F32, {n, A}), o = HostTensor::empty(DType::F32, {n, A});
  HostTensor t = HostTensor::empty(DType::F32, {n, D});
  HostTensor g = HostTensor::empty(DType::F32, {n, F}), h = HostTensor::empty(DType::F32, {n, F});
  HostTensor bias = HostTensor::empty(DType::F32, {H, 2 * n - 1});
  std::vector<float> pos(size_t(c.num_buckets * H));
  for (const UMT5Block& b : blocks_) {
    // bias[h, j − i + n − 1] = pos_embedding[bucket(j − i), h]
    to_f32(b.pos_embedding, pos.data());
    for (int64_t hh = 0; hh < H; ++hh)
      for (int64_t r = 0; r < 2 * n - 1; ++r) bias.f32()[hh * (2 * n - 1) + r] = pos[size_t(bucket[size_t(r)] * H + hh)];
    // x = x + o(attn(norm1(x)))   // q, k, v: [n, H, dh]
    ops::rms_norm({x.t(), b.norm1_weight, a.t(), c.eps});
    ops::linear({a.t(), b.attn_q, {}, q.t()});
    ops::linear({a.t(), b.attn_k, {}, k.t()});
    ops::linear({a.t(), b.attn_v, {}, v.t()});
    ops::AttentionRelBiasParams ap;
    ap.q = q.t().reshape({n, H, dh}), ap.k = k.t().reshape({n, H, dh}), ap.v = v.t().reshape({n, H, dh});
    ap.o = o.t().reshape({n, H, dh}), ap.rel_bias = bias.t(), ap.key_mask = key_mask_t, ap.scale = 1.f;
    ops::attention_rel_bias(ap);
    ops::linear({o.t(), b.attn_o, {}, t.t()});
    ops::gated_add({x.t(), t.t(), {}});
    // x = x + fc2(fc1(f) ⊙ gelu_tanh(gate(f))), f = norm2(x)   // g, h: [n, F]
    ops::rms_norm({x.t(), b.norm2_weight, a.t(), c.eps});
    ops::linear({a.t(), b.ffn_gate, {}, g.t()});
    ops::activation({g.t(), g.t(), ops::Activation::GeluTanh});
    ops::linear({a.t(), b.ffn_fc1, {}, h.t()});
    ops::mul({h.t(), g.t(), h.t()});
    ops::linear({h.t(), b.ffn_fc2, {}, t.t()});
    ops::gated_add({x.t(), t.t(), {}});
  }
  ops::rms_norm({x.t(), norm_weight_, a.t(), c.eps});

  // out: [L, D], pad rows zero (TurboDiffusion; the DiT always receives all L rows)
  HostTensor out = HostTensor::zeros(DType::F32, {L, D});
  for (int64_t i = 0; i < n; ++i)
    if (mask[size_t(i)] != 0) std::copy(a.f32() + i * D, a.f32() + (i + 1) * D, out.f32() + i * D);
  return out;
}

}  // namespace tw::engine
