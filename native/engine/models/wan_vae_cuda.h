// The Wan2.1 VAE on the GPU: weights uploaded once as bf16, bf16 activations, every layer an op from
// kernels/ on CUDA tensors (conv3d implicit GEMM, channel_rms_norm, SiLU, upsample, attention), the
// same chunked schedule and frame caches as WanVae (facts/wan-models.md §7.5) with the caches kept on
// the device, so memory stays bounded for any number of frames. Activation buffers come from a pool
// that reuses them chunk after chunk; the buffers only chunk 0 (one frame) uses are freed after it.
// Without the CUDA backend, load() throws a clear error.
#pragma once

#include <functional>

#include <cstdint>
#include <memory>
#include <string>

#include "models/wan_vae.h"

namespace tw::engine {

class WanVaeCuda {
 public:
  // Checks the checkpoint through WanVae::load (same keys, same errors), then uploads it.
  static std::unique_ptr<WanVaeCuda> load(std::shared_ptr<loader::Checkpoint> ckpt);
  static std::unique_ptr<WanVaeCuda> load(const std::string& path);
  ~WanVaeCuda();

  const WanVaeConfig& config() const;
  int64_t decoded_frames(int64_t latent_frames) const { return 1 + config().temporal_factor * (latent_frames - 1); }

  // Same contract as WanVae::decode: latents [16, T, H, W] host F32 (normalized) → frames [3, n, 8H, 8W]
  // host F32 per chunk (unclamped), n = 1 for chunk 0 and 4 after. Returns false when on_chunk stopped.
  bool decode(const Tensor& latents, const WanVae::ChunkFn& on_chunk) const;
  HostTensor decode(const Tensor& latents) const;
  // Decode that keeps each chunk on the device (benchmarks: the frames' device tensor [3, n, 8H, 8W] BF16
  // is valid during the callback only).
  bool decode_device(const Tensor& latents, const WanVae::ChunkFn& on_chunk) const;
  // Decode straight to RGB8 (ops::to_rgb8 on the device, the mapping `generate` uses): on_chunk gets
  // `frames` frames [frames, 8H, 8W, 3] U8 in host memory, valid during the callback. A quarter of the
  // bytes of the f32 path cross PCIe, and no CPU pass converts them while the GPU waits.
  using Rgb8ChunkFn = std::function<bool(const uint8_t* rgb, int64_t frames, int chunk, int total)>;
  bool decode_rgb8(const Tensor& latents, const Rgb8ChunkFn& on_chunk) const;

  // video [3, F, H, W] host F32 in [−1, 1] → normalized latents [16, 1 + (F − 1)/4, H/8, W/8] host F32.
  HostTensor encode(const Tensor& video) const;

  size_t weight_bytes() const;
  size_t activation_bytes() const;       // device memory held by the activation pool
  size_t activation_peak_bytes() const;  // the most it has held at once
  void trim();                      // frees the pooled activation buffers

  struct Impl;
 private:
  explicit WanVaeCuda(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw::engine
