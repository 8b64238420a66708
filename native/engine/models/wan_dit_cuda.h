// The Wan DiT on the GPU: weights uploaded once as bf16, a bf16 residual stream as TurboDiffusion
// keeps it, every op from kernels/ on CUDA tensors, and the text context's per-layer cross-attention
// K/V computed once per prompt instead of once per step (the context does not change between steps).
// Without the CUDA backend, create() throws a clear error.
//
// Memory: each block's weights live packed in one device slot (all blocks share one layout). Two
// experts of one model (Wan2.2 A14B high/low noise) either both stay resident, or share one set of
// slots ("parked"): each keeps its blocks in pinned host memory and the slots are refilled block by
// block, in place, on a copy stream — during the last forward of the outgoing expert, right behind
// each block's compute, so the swap hides behind compute (docs/engine.md, Memory).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "models/wan_dit.h"

namespace tw::engine {

enum class ExpertResidency { Auto, Resident, Parked };
ExpertResidency parse_expert_residency(const std::string& s);  // "auto" | "resident" | "parked"
const char* expert_residency_name(ExpertResidency r);

class WanDitCuda : public DitNetwork {
 public:
  struct Options {
    // Block linears as TurboDiffusion W8A8 int8 (128×128 block scales): automatic for -quant
    // checkpoints; `quantize_bf16` also quantizes a bf16 checkpoint's block linears on upload.
    bool quantize_bf16 = false;
  };
  // Uploads `cpu`'s weights (streamed: core/staged_upload.h); `cpu` must outlive this object.
  static std::unique_ptr<WanDitCuda> create(const WanDit& cpu, const Options& opts);
  static std::unique_ptr<WanDitCuda> create(const WanDit& cpu) { return create(cpu, Options{}); }

  struct PairOptions {
    Options model;
    ExpertResidency residency = ExpertResidency::Auto;
    // Auto keeps both experts resident only if, after both, this much device memory stays free
    // (activations, VAE decode, scratch). 0: default_headroom(config).
    size_t headroom_bytes = 0;
  };
  struct Pair {
    std::unique_ptr<WanDitCuda> high, low;
    bool parked = false;
    std::string reason;  // why this residency was chosen (free memory, need, headroom)
    double pin_ms = 0;   // allocating the pinned host images (parked)
  };
  // Both experts of a two-expert model. Parked needs identical shapes (Wan2.2's experts have them)
  // and 2 × one expert's block bytes of pinned host memory.
  static Pair create_pair(const WanDit& high, const WanDit& low, const PairOptions& opts);

  // The order of the coming forwards, e.g. high, high, low, low per sample. A parked pair copies
  // the next expert's block i into slot i right after block i of the current expert's last forward
  // in the order, and after the order's last forward swaps back to its first expert (ready for the
  // next job). Forwards outside the order stay correct: a forward first fetches missing blocks.
  // No effect on resident experts or networks that are not WanDitCuda.
  static void plan_forwards(const std::vector<const DitNetwork*>& order);

  // Device memory kept free by Auto for activations at up to 1280×720×81, the per-prompt K/V of
  // two experts, and 10 GiB for the VAE decode and op scratch (on an 80 GB card this parks A14B
  // next to a bf16 umT5: resident would leave ~8 GiB for a 720p job).
  static size_t default_headroom(const WanDitConfig& cfg);

  bool int8_linears() const;
  bool parked() const;
  size_t weight_bytes() const;  // this expert's weights (blocks + the rest)
  struct SwapStats {
    long long prefetched_blocks = 0;  // copied in during the other expert's forward (hidden)
    long long demand_blocks = 0;      // copied at the start of this expert's own forward
  };
  SwapStats swap_stats() const;
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
