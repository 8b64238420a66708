// Wan DiT (Wan2.1 T2V 1.3B/14B, Wan2.2 I2V A14B experts, and small custom configs), as
// TurboDiffusion and the official Wan code compute it (facts/wan-models.md §1). Module and field
// names follow the checkpoint keys, so a loader error names the exact key.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loader/checkpoint.h"
#include "tw/tensor.h"

namespace tw::engine {

struct WanDitConfig {
  std::string model_type = "t2v";  // "t2v" | "i2v" (in_dim 36: noisy 16 | mask 4 | image latent 16)
  int64_t dim = 1536;
  int64_t ffn_dim = 8960;
  int64_t num_heads = 12;
  int64_t num_layers = 30;
  int64_t in_dim = 16;
  int64_t out_dim = 16;
  int64_t text_dim = 4096;
  int64_t text_len = 512;
  int64_t freq_dim = 256;
  float eps = 1e-6f;
  int64_t head_dim() const { return dim / num_heads; }
};

// Shared by the CPU and GPU forwards (host-side, the latents are small):
// sample b of x [B,C,T,H,W] (+ cond [B,cc,T,H,W]) → tokens [T·H/2·W/2, (C+cc)·4], features (c, kh, kw);
void dit_patchify(const Tensor& x, const Tensor& cond, int64_t b, float* tokens);
// tokens [L, out·4] with features (kh, kw, c) → sample b of out [B, out, T, H, W];
void dit_unpatchify(const float* tokens, int64_t b, Tensor& out);
// the official float64 sinusoidal timestep embedding, cos first then sin → out[freq_dim].
void dit_timestep_embedding(double t, int64_t freq_dim, float* out);

// Configs of the named models; throws listing the known names.
WanDitConfig named_dit_config(const std::string& model);

enum class AttentionKind { Original, Sla, SageSla };
AttentionKind parse_attention_kind(const std::string& s);

// Top-k ratio actually used for a sequence of L tokens: when the ratio would select no key block
// (short sequences such as the demo model's; TurboDiffusion leaves that case undefined), every
// block is attended instead.
float effective_topk(int64_t L, int blk_k, float topk);

struct AttentionOptions {
  AttentionKind kind = AttentionKind::Original;
  float topk = 0.1f;
  int blk_q = 0, blk_k = 0;  // 0 → the arch default (SageSLA SM90: 64/128; SLA and others: 128/64)
};

// One Linear: plain (w, b) or TurboDiffusion W8A8 (int8_weight, scale, b).
struct DitLinear {
  Tensor w, b, w_q, w_scale;
  bool quantized() const { return !w_q.empty(); }
  int64_t out_features() const { return quantized() ? w_q.shape[0] : w.shape[0]; }
};

struct DitBlock {
  Tensor modulation;  // [1, 6, D]
  DitLinear self_q, self_k, self_v, self_o;
  Tensor self_norm_q, self_norm_k;  // [D]
  Tensor proj_l_w, proj_l_b;        // [128, 128], [128] (SLA linear branch; absent in official files)
  Tensor norm3_w, norm3_b;          // [D]
  DitLinear cross_q, cross_k, cross_v, cross_o;
  Tensor cross_norm_q, cross_norm_k;
  DitLinear ffn0, ffn2;
};

// Anything that evaluates the DiT: the CPU reference (WanDit) or its GPU copy (WanDitCuda).
class DitNetwork {
 public:
  virtual ~DitNetwork() = default;
  virtual const WanDitConfig& config() const = 0;
  // x: [B, in_dim − cond_channels, T, H, W] f32 host; cond: [B, cc, T, H, W] or empty;
  // timesteps: B values (×1000 scale); context: [B, text_len, text_dim] f32 host; out: [B, out_dim, T, H, W].
  virtual void forward(const Tensor& x, const Tensor& cond, const double* timesteps, const Tensor& context,
                       const AttentionOptions& attn, Tensor& out) const = 0;
};

class WanDit : public DitNetwork {
 public:
  // Loads from an already-opened checkpoint (key schemes are normalized here). With `expect`,
  // the config read from the weights must match it; without, the config is detected.
  static std::unique_ptr<WanDit> load(std::shared_ptr<loader::Checkpoint> ckpt, const WanDitConfig* expect,
                                      int64_t text_len = 512);
  static std::unique_ptr<WanDit> load(const std::vector<std::string>& paths, const WanDitConfig* expect,
                                      int64_t text_len = 512);

  const WanDitConfig& config() const override { return cfg_; }
  bool quantized() const { return quantized_; }
  bool has_proj_l() const { return has_proj_l_; }

  // One evaluation of the network (the velocity v = ε − x0 in rectified-flow terms).
  // x: [B, in_dim − cond_channels, T, H, W] f32; cond: [B, cond_channels, T, H, W] f32 or empty;
  // timesteps: B values on the ×1000 scale; context: [B, text_len, text_dim] f32;
  // out: [B, out_dim, T, H, W] f32. H, W must be even.
  void forward(const Tensor& x, const Tensor& cond, const double* timesteps, const Tensor& context,
               const AttentionOptions& attn, Tensor& out) const override;

 private:
  WanDit() = default;
  void block_forward(const DitBlock& blk, Tensor& x, const Tensor& ctx, const float* e0, int64_t T, int64_t Hp,
                     int64_t Wp, const AttentionOptions& attn) const;

  WanDitConfig cfg_;
  bool quantized_ = false;
  bool has_proj_l_ = false;
  std::shared_ptr<loader::Checkpoint> ckpt_;  // owns the mapped weights
  Tensor patch_w_, patch_b_;                  // [D, in_dim·4], [D]
  DitLinear text0_, text2_, time0_, time2_, time_proj_, head_;
  Tensor head_modulation_;  // [1, 2, D]
  std::vector<DitBlock> blocks_;
  friend class WanDitCuda;
};

}  // namespace tw::engine
