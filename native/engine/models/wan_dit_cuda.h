// The Wan DiT on the GPU: weights uploaded once as bf16, a bf16 residual stream as TurboDiffusion
// keeps it, every op from kernels/ on CUDA tensors, and the text context's per-layer cross-attention
// K/V computed once per prompt instead of once per step (the context does not change between steps).
// Without the CUDA backend, create() throws a clear error.
#pragma once

#include <memory>

#include "models/wan_dit.h"

namespace tw::engine {

class WanDitCuda : public DitNetwork {
 public:
  struct Options {
    // Block linears as TurboDiffusion W8A8 int8 (128×128 block scales): automatic for -quant
    // checkpoints; `quantize_bf16` also quantizes a bf16 checkpoint's block linears on upload.
    bool quantize_bf16 = false;
  };
  // Uploads `cpu`'s weights; `cpu` must outlive this object.
  static std::unique_ptr<WanDitCuda> create(const WanDit& cpu, const Options& opts);
  static std::unique_ptr<WanDitCuda> create(const WanDit& cpu) { return create(cpu, Options{}); }
  bool int8_linears() const;
  ~WanDitCuda() override;

  const WanDitConfig& config() const override;
  void forward(const Tensor& x, const Tensor& cond, const double* timesteps, const Tensor& context,
               const AttentionOptions& attn, Tensor& out) const override;

  struct Impl;
 private:
  explicit WanDitCuda(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True when the engine was built with CUDA and a device is visible.
bool cuda_available();

}  // namespace tw::engine
