// umT5 encoder on the GPU: the weights of UMT5Encoder uploaded once as bf16 (the real encoder is
// 11.4 GB in bf16; the 2.1 GB token embedding stays in host memory, only the prompt's rows travel),
// a bf16 residual stream as the reference keeps it (t5_dtype bf16), and every op from kernels/ on
// CUDA tensors (rms_norm, linear, attention_rel_bias with the per-layer position bias and the pad-key
// mask, gated GELU with mul). Same inputs and outputs as UMT5Encoder::encode.
// Without the CUDA backend, load() throws a clear error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/umt5.h"

namespace tw::engine {

class UMT5EncoderCuda {
 public:
  // Checks the checkpoint through UMT5Encoder::load (key renames, config detection, shapes), then uploads it.
  static std::unique_ptr<UMT5EncoderCuda> load(std::shared_ptr<loader::Checkpoint> ckpt);
  static std::unique_ptr<UMT5EncoderCuda> load(const std::string& path);
  ~UMT5EncoderCuda();

  const UMT5Config& config() const;
  // ids, mask: L values each → [L, dim] host F32, rows with mask 0 zero (UMT5Encoder::encode's contract).
  HostTensor encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask) const;
  size_t weight_bytes() const;  // device memory held for the weights

  struct Impl;
 private:
  explicit UMT5EncoderCuda(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw::engine
