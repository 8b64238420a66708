// umT5 encoder (umT5-XXL of Wan2.1/TurboDiffusion, and small configs of the same architecture),
// as wan/modules/t5.py T5Encoder computes it (facts/wan-models.md §8): per-layer relative position
// bias (32 buckets, max distance 128, bidirectional), T5 RMS norm, gated-GELU FFN, no 1/√d scaling,
// pad keys masked, and the rows of pad tokens zeroed after the final norm (TurboDiffusion).
// Field names follow `models_t5_umt5-xxl-enc-bf16.pth` keys; the config is read from the weights.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loader/checkpoint.h"
#include "tw/tensor.h"

namespace tw::engine {

struct UMT5Config {
  int64_t vocab = 256384;
  int64_t dim = 4096;
  int64_t dim_attn = 4096;
  int64_t dim_ffn = 10240;
  int64_t num_heads = 64;
  int64_t num_layers = 24;
  int64_t num_buckets = 32;
  int64_t max_distance = 128;
  float eps = 1e-6f;
  int64_t head_dim() const { return dim_attn / num_heads; }
};

struct UMT5Block {
  Tensor norm1_weight;                   // blocks.i.norm1.weight [dim]
  Tensor attn_q, attn_k, attn_v, attn_o; // blocks.i.attn.{q,k,v}.weight [dim_attn, dim], o [dim, dim_attn]
  Tensor norm2_weight;                   // [dim]
  Tensor ffn_gate, ffn_fc1, ffn_fc2;     // ffn.gate.0 [dim_ffn, dim] (GELU side), ffn.fc1 [dim_ffn, dim], ffn.fc2 [dim, dim_ffn]
  Tensor pos_embedding;                  // blocks.i.pos_embedding.embedding.weight [num_buckets, num_heads]
};

// T5's bidirectional relative-position bucket of rel = key_pos − query_pos, in the reference's
// fp32 arithmetic (log, divide, multiply, truncate), so boundary offsets (16, 32, 64) land as in torch.
int64_t t5_relative_bucket(int64_t rel, int64_t num_buckets = 32, int64_t max_distance = 128);

// Renames Hugging Face / ComfyUI UMT5 encoder keys (`shared`, `encoder.block.i.layer.0.SelfAttention.q`,
// `…layer.1.DenseReluDense.wi_0` (GELU side) / `wi_1` / `wo`, `encoder.final_layer_norm`; optional
// prefix `encoder.`, `model.` or `t5xxl.transformer.`) to the Wan names in place. No-op on Wan files.
void normalize_umt5_keys(loader::Checkpoint& ck);

class UMT5Encoder {
 public:
  // Normalizes key names (normalize_umt5_keys), detects the config from the weights (vocab, dim, dim_attn, dim_ffn, layers; heads from the
  // position-embedding shape) and checks every key's shape; errors name the key and the file.
  static std::unique_ptr<UMT5Encoder> load(std::shared_ptr<loader::Checkpoint> ckpt);
  static std::unique_ptr<UMT5Encoder> load(const std::string& path);

  const UMT5Config& config() const { return cfg_; }

  // ids, mask: L values each (L = 512 for Wan; mask 1 for tokens incl. </s>, 0 for padding).
  // Returns [L, dim] F32; rows with mask 0 are zero. Only the positions up to the last unmasked
  // token are computed (pad keys get zero attention weight, so this is the same math).
  HostTensor encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask) const;

 private:
  UMT5Encoder() = default;
  UMT5Config cfg_;
  std::shared_ptr<loader::Checkpoint> ckpt_;  // owns the mapped weights
  Tensor token_embedding_;                    // [vocab, dim]
  std::vector<UMT5Block> blocks_;
  Tensor norm_weight_;                        // [dim]
};

}  // namespace tw::engine
