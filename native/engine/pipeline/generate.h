// Text/image → video: umT5 text encoding → rCM sampling over the Wan DiT (one or two experts) →
// Wan VAE decode streamed one latent frame at a time → RGB8 frames. Tokenization, the prompt cache
// and image decoding/resizing live in the TypeScript layer; this is the compute.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/progress.h"
#include "models/umt5.h"
#include "models/umt5_cuda.h"
#include "models/wan_dit.h"
#include "models/wan_dit_cuda.h"
#include "models/wan_vae.h"
#include "models/wan_vae_cuda.h"
#include "sampler/rcm.h"

namespace tw::engine {

struct PipelineModels {
  std::unique_ptr<WanDit> high, low;  // CPU reference (owns the mapped weights); low: Wan2.2 low-noise expert
  std::unique_ptr<DitNetwork> high_gpu, low_gpu;  // GPU copies when the CUDA backend is in use
  const DitNetwork& high_net() const { return high_gpu ? *high_gpu : *high; }
  const DitNetwork* low_net() const { return low_gpu ? low_gpu.get() : low.get(); }
  std::unique_ptr<UMT5Encoder> text_encoder;
  std::unique_ptr<WanVae> vae;                        // also gives the VAE config when vae_gpu runs it
  std::unique_ptr<UMT5EncoderCuda> text_encoder_gpu;  // used instead of text_encoder when present
  std::unique_ptr<WanVaeCuda> vae_gpu;                // used instead of vae (encode and decode) when present
  bool experts_parked = false;  // high_gpu/low_gpu share one set of device blocks (WanDitCuda::create_pair)
  std::string residency;        // how the experts were placed and why (empty: one expert or CPU)
};

struct GpuLoadOptions {
  std::string text_encoder, vae;  // checkpoint paths to put on the GPU (empty: none)
  std::string text_encoder_weights = "auto";  // bf16 | int8 | auto (UMT5EncoderCuda::default_weights)
  ExpertResidency residency = ExpertResidency::Auto;
  size_t headroom_bytes = 0;      // 0: WanDitCuda::default_headroom
};

// Puts the loaded CPU models on the GPU: umT5 and the VAE first, so that the expert residency
// decision (Auto) sees the memory they take; then the DiT (both experts when `low` is loaded).
void load_gpu_models(PipelineModels& m, const GpuLoadOptions& o);

// The network each rCM step of one sample runs (rcm_sample's boundary rule), for planning swaps.
std::vector<const DitNetwork*> expert_order(const DitNetwork& high, const DitNetwork* low, const RcmOptions& o);

struct GenerateParams {
  // Text: token ids + mask (text_len each) to encode, or a ready embedding [text_len, text_dim].
  std::vector<int32_t> ids, mask;
  std::vector<float> text_embedding;
  int64_t width = 832, height = 480, frames = 81, samples = 1;
  // I2V: the resized image [3, height, width] in [−1, 1].
  std::vector<float> image;
  RcmOptions rcm;  // seed: sample s uses seed + s
  // Called with each decoded chunk as soon as it is RGB8 (so a video encoder can run while later
  // chunks still decode): frames [count, height, width, 3] of sample `sample`, starting at `first`.
  std::function<void(const uint8_t* rgb, int64_t sample, int64_t first, int64_t count)> on_frames;
};

struct GenerateResult {
  std::vector<uint8_t> frames;  // [samples, frames, height, width, 3] RGB8
  int64_t num_frames = 0;
  std::vector<float> text_embedding;  // [text_len, text_dim], for the caller's prompt cache
  std::map<std::string, double> timings_ms;
};

GenerateResult generate(const PipelineModels& m, const GenerateParams& p, const ProgressFn& progress,
                        const CancelToken* cancel);

}  // namespace tw::engine
