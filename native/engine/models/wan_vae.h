// Wan2.1 VAE (the 16-channel `Wan2.1_VAE.pth`, and smaller widths of the same architecture), as
// wan/modules/vae.py WanVAE_ computes it (facts/wan-models.md §7): causal 3-D convs run chunk by chunk
// with the frame cache (CACHE_T = 2), RMS_norm, per-frame middle attention, temporal up/down
// sampling that passes the first frame through, and the latent mean/std normalization.
// Module and field names follow the checkpoint keys; every channel width is read from the weights.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loader/checkpoint.h"
#include "tw/tensor.h"

namespace tw::engine {

// A conv as stored: weight [out, in, kt, kh, kw] (or [out, in, kh, kw] for Conv2d) and bias [out].
struct VaeConv {
  Tensor weight, bias;
  int64_t out_ch() const { return weight.size(0); }
  int64_t in_ch() const { return weight.size(1); }
};

struct VaeResidualBlock {   // P.residual.{0,2,3,6}, P.shortcut
  Tensor residual_0_gamma;  // RMS_norm(in)  [in,1,1,1]
  VaeConv residual_2;       // CausalConv3d(in, out, 3, padding 1)
  Tensor residual_3_gamma;  // RMS_norm(out)
  VaeConv residual_6;       // CausalConv3d(out, out, 3, padding 1)
  VaeConv shortcut;         // CausalConv3d(in, out, 1) when in ≠ out, else empty
  int64_t in_ch = 0, out_ch = 0;
};

struct VaeAttentionBlock {  // P.norm, P.to_qkv, P.proj (single head over the pixels of one frame)
  Tensor norm_gamma;        // [C,1,1]
  VaeConv to_qkv, proj;     // [3C, C, 1, 1], [C, C, 1, 1]
  int64_t ch = 0;
};

struct VaeResample {        // P.resample.1 (Conv2d), P.time_conv (CausalConv3d, 3-D modes only)
  enum Mode { Upsample2d, Upsample3d, Downsample2d, Downsample3d } mode = Upsample2d;
  VaeConv resample_1, time_conv;
  int64_t in_ch = 0, out_ch = 0;
};

struct VaeLayer {
  enum Kind { Residual, Attention, Resample } kind = Residual;
  VaeResidualBlock res;
  VaeAttentionBlock attn;
  VaeResample resample;
  int64_t out_ch() const { return kind == Residual ? res.out_ch : kind == Attention ? attn.ch : resample.out_ch; }
};

struct VaeCoder {               // encoder.* or decoder.*
  VaeConv conv1;                // CausalConv3d(in, C0, 3, padding 1)
  std::vector<VaeLayer> middle; // [Res, Attn, Res]
  std::vector<VaeLayer> stages; // encoder.downsamples.* / decoder.upsamples.*
  Tensor head_0_gamma;          // RMS_norm
  VaeConv head_2;               // CausalConv3d(C, out, 3, padding 1)
};

struct WanVaeConfig {
  int64_t z_dim = 16;
  int64_t spatial_factor = 8;   // 2^(spatial resamples)
  int64_t temporal_factor = 4;  // 2^(temporal resamples): pixel frames per latent frame after the first
  std::vector<int64_t> encoder_widths, decoder_widths;  // output width of every encoder/decoder layer, in order
};

// Runs a chunked decode and collects every chunk into one [3, F, H, W] video (both VAEs' decode()).
using ChunkSink = std::function<bool(const Tensor& frames, int chunk, int total)>;
HostTensor collect_decoded_frames(int64_t frames, int64_t height, int64_t width,
                                  const std::function<bool(const ChunkSink&)>& run_decode);

class WanVae {
 public:
  static std::unique_ptr<WanVae> load(std::shared_ptr<loader::Checkpoint> ckpt);
  static std::unique_ptr<WanVae> load(const std::string& path);

  const WanVaeConfig& config() const { return cfg_; }
  // Pixel frames decoded from T latent frames: 1 + temporal_factor·(T − 1) (81 for 21).
  int64_t decoded_frames(int64_t latent_frames) const { return 1 + cfg_.temporal_factor * (latent_frames - 1); }

  // Called once per decoded chunk with frames [3, n, 8H, 8W] (n = 1 for chunk 0, else 4), unclamped
  // (the reference clamps to [−1, 1] afterwards); chunk is 0-based, total = T. Return false to stop.
  using ChunkFn = ChunkSink;

  // latents [16, T, H, W] (normalized, as the DiT produces them) → frames streamed one latent frame
  // per chunk, so memory stays bounded for any T. Returns false when on_chunk stopped the decode.
  bool decode(const Tensor& latents, const ChunkFn& on_chunk) const;
  // Same, collecting every frame: [3, 1 + 4(T − 1), 8H, 8W].
  HostTensor decode(const Tensor& latents) const;

  // video [3, F, H, W] in [−1, 1], F = 1 + 4k, H and W multiples of 8 → normalized latents
  // [16, 1 + (F − 1)/4, H/8, W/8] (μ only; the log-variance half is dropped as Wan does).
  HostTensor encode(const Tensor& video) const;

 private:
  WanVae() = default;
  WanVaeConfig cfg_;
  std::shared_ptr<loader::Checkpoint> ckpt_;  // owns the mapped weights
  VaeCoder encoder_, decoder_;
  VaeConv conv1_, conv2_;                     // top-level: after the encoder [2z→2z], before the decoder [z→z]
};

}  // namespace tw::engine
